"""Runs the step list: each step's artefact saved as steps/NN_<step>.onnx, verified, logged."""
from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

from amc_cli.inputs import read_json

from .config import BuildConfig, model_digest, prepare_out_dir
from .finnenv import init_finn
from .steps import STEP_NAMES, STEPS, StepError
from .verify import VerificationError, Verifier


def artefact_path(cfg: BuildConfig, step: str, names: list[str] | None = None) -> Path:
    """steps/NN_<step>.onnx, NN the step's position in the step list (1-based)."""
    names = names or STEP_NAMES
    return cfg.steps_dir / f"{names.index(step) + 1:02d}_{step}.onnx"


def _select(cfg: BuildConfig, steps) -> list:
    names = [n for n, _ in steps]
    start = names.index(cfg.start_step) if cfg.start_step else 0
    if cfg.start_step and cfg.start_step not in names:
        raise ValueError(f"unknown step {cfg.start_step!r}; steps: {', '.join(names)}")
    if cfg.stop_step and cfg.stop_step not in names:
        raise ValueError(f"unknown step {cfg.stop_step!r}; steps: {', '.join(names)}")
    stop = names.index(cfg.stop_step) if cfg.stop_step else len(names) - 1
    return list(steps)[start: stop + 1]


def _load_start(cfg: BuildConfig, steps, first: str):
    from qonnx.core.modelwrapper import ModelWrapper

    names = [n for n, _ in steps]
    i = names.index(first)
    if i == 0:
        return ModelWrapper(str(cfg.model_path))
    prev = artefact_path(cfg, names[i - 1], names)
    if not prev.is_file():
        raise FileNotFoundError(
            f"cannot start at '{first}': the artefact of '{names[i - 1]}' ({prev}) is missing; "
            "run the build up to that step first"
        )
    return ModelWrapper(str(prev))


def run_build(cfg: BuildConfig, steps=None, log=print) -> dict:
    """Run (a slice of) the step list. Raises StepError / VerificationError naming the step."""
    steps = list(steps) if steps is not None else list(STEPS)
    if not cfg.model_sha256:
        cfg.model_sha256 = model_digest(cfg.model_path)
    prepare_out_dir(cfg, log=log)  # a build of another model: refuse a partial build, else start clean
    _select(cfg, steps)  # unknown step names fail before anything is written
    cfg.make_dirs()
    init_finn(cfg.codegen_dir)
    cfg.save()
    todo = _select(cfg, steps)
    model = _load_start(cfg, steps, todo[0][0])
    names = [n for n, _ in steps]
    part = (artefact_path(cfg, "create_dataflow_partition", names)
            if "create_dataflow_partition" in names else None)
    verifier = Verifier(cfg, part) if cfg.verify else None
    log_path = cfg.report_dir / "steps.json"
    records = read_json(log_path) if (cfg.start_step and log_path.is_file()) else []
    records = [r for r in records if r["step"] not in {n for n, _ in todo}]
    for name, fn in todo:
        t0 = time.time()
        before = model.model.SerializeToString()
        try:
            model = fn(model, cfg)
        except StepError:
            raise
        except Exception as e:  # name the step, keep the cause
            (cfg.out_dir / "error.txt").write_text(traceback.format_exc())
            raise StepError(name, f"{type(e).__name__}: {e}") from e
        if model is None:
            raise StepError(name, "the step returned no model")
        out = artefact_path(cfg, name, [n for n, _ in steps])
        model.save(str(out))
        rec = {"step": name, "artefact": str(out.relative_to(cfg.out_dir)), "seconds": 0.0,
               "nodes": len(model.graph.node), "changed": model.model.SerializeToString() != before}
        if verifier is not None:
            chk = verifier.check(name, model, record_golden=(name == "create_dataflow_partition"))
            rec["verification"] = chk.to_dict()
            (cfg.verify_dir / f"{out.stem}.json").write_text(json.dumps(chk.to_dict(), indent=2) + "\n")
            if not chk.passed:
                rec["seconds"] = round(time.time() - t0, 2)
                records.append(rec)
                log_path.write_text(json.dumps(records, indent=2) + "\n")
                raise VerificationError(name, "; ".join(chk.problems), chk.to_dict())
        rec["seconds"] = round(time.time() - t0, 2)
        records.append(rec)
        log_path.write_text(json.dumps(records, indent=2) + "\n")
        v = rec.get("verification")
        log(f"[{name}] {rec['seconds']:.1f}s, {rec['nodes']} nodes"
            + (f", verified: top-1 {v['top1_agree']}/{v['frames']}, max err {v['max_abs_err']:.2g}"
               + ("" if v["int_output_exact"] is None else f", int exact {v['int_output_exact']}")
               if v else ""))
    _finish(cfg, model, out)
    return {"out_dir": str(cfg.out_dir), "steps": records, "last_artefact": str(out),
            "ran": [n for n, _ in todo]}


def _finish(cfg: BuildConfig, model, latest: Path) -> None:
    """Point the parent's partition at the latest accelerator artefact, so it runs as is, and describe that
    artefact's I/O in accelerator.json (minimize_bit_width can change the output datatype after the
    partition step wrote it)."""
    if not cfg.parent_path.is_file() or model.get_metadata_prop("amc_role") is None:
        return
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    parent = ModelWrapper(str(cfg.parent_path))
    for n in parent.get_nodes_by_op_type("StreamingDataflowPartition"):
        getCustomOp(n).set_nodeattr("model", str(latest.resolve()))
    parent.save(str(cfg.parent_path))
    info_path = cfg.out_dir / "accelerator.json"
    if info_path.is_file():
        info = read_json(info_path)
        ci, co = model.graph.input[0].name, model.graph.output[0].name
        info["input"].update(accelerator_shape=model.get_tensor_shape(ci),
                             accelerator_datatype=model.get_tensor_datatype(ci).name)
        info["output"].update(accelerator_shape=model.get_tensor_shape(co),
                              accelerator_datatype=model.get_tensor_datatype(co).name)
        info["artefact"] = str(latest.relative_to(cfg.out_dir))
        info_path.write_text(json.dumps(info, indent=2) + "\n")

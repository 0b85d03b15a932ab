"""Unroll a trained `ours` run to P samples per clock, exactly (model/nets/unrolled.py), as a run-like folder.

    python -m model.unroll runs/ours --polyphase 8 --out runs/ours-unrolled8
    python -m model.unroll RUN --checkpoint RUN/compress/01_magnitude/step_02/accepted.pt --polyphase 8 --out DIR

Reads the run's recipe and final checkpoint (or --checkpoint: e.g. one rung of a compression ladder); writes
to --out what compile/ and driver/ read from a run folder: model.onnx (verified against PyTorch), io.json,
export.json, cost.json, data.json, and metrics.json / predictions.npz from evaluating the unrolled network on
the run's own test split; plus unroll.json: how its top-1 and
logits compare with the trained network's on every test frame, and the cost before and after.

Exit status (docs/usage.md): 0 done, 2 a run that cannot be unrolled (nothing written), 1 an unrolled network
that differs from the trained one. --out is written under a temporary name and renamed into place; it may not
be, hold or lie inside the run or the checkpoint, nor be a folder of other files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from amc_cli import ConstraintMissed, RefusedInput, command
from amc_cli.outputs import check_output_folder, staged_folder

UNROLL_FORMAT = "amc-fpga-unroll/1"


def unroll_run(run_dir: Path, polyphase: int, out: Path, checkpoint: Path | None = None, progress: bool = True) -> dict:
    """Unroll the final network of `run_dir` (or `checkpoint`), export, evaluate and cost it into `out`;
    return unroll.json."""
    from model.config import load_recipe
    from model.cost import inference_cost_report, write_cost_json
    from model.export import export_qonnx_model, io_description, verify_export, write_io_json
    from model.metrics import compute_metrics, top1
    from model.nets.ours import Ours
    from model.nets.unrolled import UnrolledOurs
    from model.pipeline import RunContext, RunFolder, verification_frames
    from model.train import predict, run_environment
    from model.trained import load_trained

    check_output_folder(out, [run_dir, checkpoint], marker="unroll.json")
    final_out = out
    run = RunFolder(run_dir)
    if not run.recipe.exists():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no recipe.yaml); give the folder `make train` wrote")
    checkpoint = checkpoint or run.final
    if not checkpoint.exists():
        raise FileNotFoundError(f"{checkpoint}: no such checkpoint; finish the run, or name one with --checkpoint")
    ctx = RunContext(load_recipe(run.recipe), run, progress=progress)
    trained = load_trained(checkpoint)
    if not isinstance(trained, Ours):
        raise RefusedInput(f"{run_dir}: unrolling knows `ours` networks, this run trained {ctx.recipe.net.name!r}")
    unrolled = UnrolledOurs(trained, polyphase).eval()

    data = ctx.data()
    batch, cpu = ctx.recipe.train.batch_size, torch.device("cpu")
    ref = predict(trained, data.cache, data.test, batch, cpu, progress=progress, desc="trained, test split")
    got = predict(unrolled, data.cache, data.test, batch, cpu, progress=progress, desc="unrolled, test split")
    predicted, trained_predicted = top1(got), top1(ref)
    agreement = float(np.mean(predicted == trained_predicted))
    max_diff = float(np.abs(ref - got).max())
    if agreement < 1.0:
        raise ConstraintMissed(f"unrolled network disagrees with the trained one on "
                         f"{np.sum(predicted != trained_predicted)} test frames (max |logit difference| "
                         f"{max_diff:.3g}): a bug in model/nets/unrolled.py")

    with staged_folder(final_out) as out:  # renamed into place once everything is written
        onnx = export_qonnx_model(unrolled, out / "model.onnx")
        check = verify_export(unrolled, onnx, verification_frames(data, ctx.recipe.export.verify_frames))
        (out / "export.json").write_text(json.dumps({"verification": check}, indent=2) + "\n")
        write_io_json(io_description(onnx, ctx.recipe.net.name, data.describe()), out / "io.json")
        cost = inference_cost_report(onnx)
        write_cost_json(cost, out / "cost.json")

        labels, snr = data.cache.labels[data.test], data.cache.snr_db[data.test]
        metrics = compute_metrics(predicted, labels, snr)
        metrics.update(data=data.describe(), checkpoint=str(checkpoint), environment=run_environment(),
                       note=f"the network of {checkpoint} unrolled to {polyphase} samples per clock (model.unroll)")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        np.savez_compressed(out / "predictions.npz", index=data.test, label=labels, snr_db=snr,
                            predicted=predicted.astype(np.uint8), logits=got.astype(np.float32))
        shutil.copy(run.recipe, out / "recipe.yaml")
        if run.data.exists():  # which data file the test split came from: driver.deploy reads it
            shutil.copy(run.data, out / "data.json")

        with tempfile.TemporaryDirectory() as tmp:  # the trained network's own cost, whichever checkpoint
            before = inference_cost_report(export_qonnx_model(trained, Path(tmp) / "trained.onnx"))
        report = {
            "format": UNROLL_FORMAT, "source_run": str(run_dir), "checkpoint": str(checkpoint), "polyphase": polyphase,
            "test_frames": int(len(data.test)), "top1_agreement": agreement, "max_abs_logit_diff": max_diff,
            "accuracy": metrics["accuracy"],
            "cost": {"bit_ops": cost.total_bops, "bit_mem": cost.total_mem_w_bits, "score": cost.score},
            "source_cost": {"bit_ops": before.total_bops, "bit_mem": before.total_mem_w_bits, "score": before.score},
        }
        (out / "unroll.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a finished run folder of an `ours` recipe with polyphase 1")
    ap.add_argument("--checkpoint", type=Path, help="a checkpoint of that run (default: its final model)")
    ap.add_argument("--polyphase", type=int, required=True, help="samples per clock (a power of two)")
    ap.add_argument("--out", type=Path, required=True, help="folder to write (run-folder layout)")
    ap.add_argument("--json", action="store_true", help="print unroll.json")
    a = ap.parse_args(argv)
    report = unroll_run(a.run, a.polyphase, a.out, a.checkpoint, progress=not a.json)
    if a.json:
        print(json.dumps(report, indent=2))
    else:
        src = report["source_cost"]
        print(f"[unroll] {a.out}: {report['polyphase']} samples per clock, top-1 as the trained network on "
              f"{report['test_frames']} of {report['test_frames']} test frames; accuracy {report['accuracy']:.4f}; "
              f"score {report['cost']['score']:.6f} (trained: {src['score']:.6f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

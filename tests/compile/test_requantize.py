"""compile/requantize.py: quantizers inserted where a foreign model feeds FINN's layers float activations
(AaronNet32++'s depthwise convolutions and first classifier layer read BatchNorm outputs), calibrated on
frames, with the change the insertion makes reported honestly."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from amc_cli.paths import REPO_ROOT
from compile.requantize import RequantizeError, find_float_inputs, main, read_frames, requantize

REF = REPO_ROOT / "tests" / "fixtures" / "reference"
AARONNET = REF / "aaronnet32pp_2021_export.onnx"


def _model(path):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    return ModelWrapper(str(path)).transform(InferShapes())


def test_aaronnet_float_inputs_are_found_with_concat_inputs_sharing_one_quantizer():
    groups = find_float_inputs(_model(AARONNET))
    layer_ops = [g[1] for g in groups]
    assert len(groups) == 6, layer_ops  # five depthwise convolutions and the first classifier layer
    concat_group = [g for g in groups if len(g[0]) > 1]
    assert len(concat_group) == 1 and len(concat_group[0][0]) == 3  # the three stem branches' BatchNorms
    m = _model(AARONNET)
    producers = {o: n for n in m.graph.node for o in n.output}
    assert all(producers[t].op_type == "BatchNormalization" for g in groups for t in g[0])


@pytest.fixture(scope="module")
def requantized(tmp_path_factory, toy_h5):
    out = tmp_path_factory.mktemp("requant") / "aaron_requant6.onnx"
    frames = read_frames(toy_h5, 8)
    return requantize(AARONNET, out, frames, 6, str(toy_h5), percentile=100.0), frames


def test_requantized_model_has_no_float_inputs_and_quantizes_on_its_calibrated_grid(requantized):
    from qonnx.core.onnx_exec import execute_onnx

    rep, frames = requantized
    m = _model(rep.out)
    assert find_float_inputs(m) == []
    assert len(rep.quantizers) == 6 and all(q.bits == 6 for q in rep.quantizers)
    quants = {n.output[0]: n for n in m.graph.node if n.name.startswith("requant")}
    assert len(quants) == 8  # one per root tensor: 3 joined by the concatenation, 5 alone
    ctx = execute_onnx(m, {m.graph.input[0].name: frames[:1]}, return_full_exec_context=True)
    for q in rep.quantizers:
        for t in q.tensors:
            out = next(o for o, n in quants.items() if n.input[0] == t)
            codes = ctx[out] / q.scale
            assert np.allclose(codes, np.round(codes), atol=1e-3)
            lo = -(2 ** (q.bits - 1)) if q.signed else 0
            hi = 2 ** (q.bits - 1) - 1 if q.signed else 2 ** q.bits - 1
            assert codes.min() >= lo - 1e-3 and codes.max() <= hi + 1e-3
            # at percentile 100 the scale puts the calibrated extreme at the top code: nothing clips
            assert np.isclose(max(abs(q.calibration_min), abs(q.calibration_max)), hi * q.scale, rtol=1e-5)
            assert q.calibration_magnitude == max(abs(q.calibration_min), abs(q.calibration_max))


def test_report_counts_agreement_on_frames_not_used_for_calibration(requantized):
    rep, _ = requantized
    assert rep.calibration_frames == 4 and rep.check_frames == 4
    assert 0 <= rep.top1_agree <= 4 and rep.top1_agreement == rep.top1_agree / 4
    assert rep.max_abs_logit_change > 0  # 6-bit activations do change the logits


def test_cli_writes_model_and_report_and_refuses_bad_input(tmp_path, toy_h5, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    assert main([str(AARONNET), "--frames", str(bad), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "not a readable HDF5 file" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.onnx"), "--frames", str(toy_h5)]) == 2
    assert "no such model file" in capsys.readouterr().err

    frames = read_frames(toy_h5, 4)
    np.save(tmp_path / "frames.npy", frames)
    out = tmp_path / "aaron8.onnx"
    assert main([str(AARONNET), "--frames", str(tmp_path / "frames.npy"), "--n-frames", "4", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".requantize.json").read_text())
    assert report["bits"] == 8 and report["check_frames"] == 2 and out.is_file()
    # a model with nothing left to quantize is refused, not rewritten
    assert main([str(out), "--frames", str(tmp_path / "frames.npy"), "--n-frames", "4"]) == 2
    assert "already reads quantized activations" in capsys.readouterr().err


def test_requantize_never_imports_torch():
    code = ("import sys, compile.requantize; "
            "sys.exit(1 if any(m == 'torch' or m.startswith('torch.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT).returncode == 0


def test_read_frames_rejects_wrong_shape(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((3, 1024, 2), np.float32))
    with pytest.raises(RequantizeError, match=r"expected \(N, 2, 1024\).*stored transposed"):
        read_frames(tmp_path / "f.npy", 2)


def test_percentile_calibration_trades_clipping_for_finer_steps(tmp_path, toy_h5, requantized):
    rep_max, frames = requantized
    rep = requantize(AARONNET, tmp_path / "p90.onnx", frames, 6, str(toy_h5), percentile=90.0)
    for q, q_max in zip(rep.quantizers, rep_max.quantizers):
        assert q.tensors == q_max.tensors
        assert q.calibration_magnitude < max(abs(q.calibration_min), abs(q.calibration_max))
        assert q.scale < q_max.scale
    with pytest.raises(RequantizeError, match="--percentile 20"):
        requantize(AARONNET, tmp_path / "p20.onnx", frames, 6, str(toy_h5), percentile=20.0)


@pytest.mark.slow
def test_requantized_aaronnet_compiles_with_every_step_verified(tmp_path, requantized):
    """The point of the tool: the published export stops at create_dataflow_partition; its requantized
    version builds like any other model, each step checked against it."""
    from compile.config import make_config
    from compile.runner import run_build
    from compile.steps import STEP_NAMES

    rep, _ = requantized
    cfg = make_config(Path(rep.out), board="zcu104", out_dir=tmp_path / "aaron-zcu104", verify_frames=2)
    run_build(cfg, log=lambda m: None)
    recs = json.loads((cfg.report_dir / "steps.json").read_text())
    assert [r["step"] for r in recs] == STEP_NAMES
    assert all(r["verification"]["passed"] for r in recs), [r["verification"]["problems"] for r in recs]
    report = json.loads((cfg.out_dir / "report.json").read_text())
    assert report["throughput"]["frames_per_s"] > 0

"""A broken step is caught by the verification and named; a build restarts from a step's artefact."""
import json

import numpy as np
import pytest
from compile_support import FIXTURES, copy_build

from compile import steps as S
from compile.config import make_config
from compile.runner import artefact_path, run_build
from compile.steps import StepError
from compile.verify import VerificationError


def _replace(name, fn):
    return [(n, fn if n == name else f) for n, f in S.STEPS]


def test_broken_front_end_step_is_named(tmp_path):
    """A streamline that flips the sign of one weight diverges from the QONNX model."""

    def bad_streamline(model, cfg):
        model = S.step_streamline(model, cfg)
        mm = model.get_nodes_by_op_type("MatMul")[1]
        w = model.get_initializer(mm.input[1]).copy()
        w[0, 0] = -w[0, 0] if w[0, 0] != 0 else 1.0
        model.set_initializer(mm.input[1], w)
        return model

    cfg = make_config(FIXTURES / "tiny_vgg", out_dir=tmp_path / "b", verify_frames=4, stop_step="streamline")
    with pytest.raises(VerificationError) as e:
        run_build(cfg, steps=_replace("streamline", bad_streamline), log=lambda m: None)
    assert e.value.step == "streamline"
    assert "streamline" in str(e.value)
    recs = json.loads((cfg.report_dir / "steps.json").read_text())
    assert [r["verification"]["passed"] for r in recs] == [True, True, True, True, False]


def test_threshold_off_by_one_after_partition_is_caught(tiny_vgg_build, tmp_path):
    """Shifting one channel's thresholds in the accelerator by one step (every activation above the first
    threshold one code lower) breaks bit-exactness of its output."""
    base, _ = tiny_vgg_build
    cfg = copy_build(base, tmp_path, start_step="minimize_bit_width", stop_step="minimize_bit_width")

    def bad_minimize(model, cfg):
        model = S.step_minimize_bit_width(model, cfg)
        th = [n for n in model.graph.node if n.op_type.startswith("Thresholding")][0]
        t = model.get_initializer(th.input[1]).copy()
        t[0, :] += t[0, 1] - t[0, 0]
        model.set_initializer(th.input[1], t)
        return model

    with pytest.raises(VerificationError) as e:
        run_build(cfg, steps=_replace("minimize_bit_width", bad_minimize), log=lambda m: None)
    assert e.value.step == "minimize_bit_width"
    assert e.value.details["int_output_exact"] is False


@pytest.mark.parametrize("standalone", [True, False], ids=["standalone-thresholds", "mvau-with-thresholds"])
def test_accumulator_overflow_is_caught(standalone, tiny_vgg_build, tmp_path):
    """An accumulator width minimised too far does not change Python outputs, but is an error; with
    standalone thresholds the MVAU output is the accumulator, otherwise it is recomputed."""
    from dataclasses import replace

    from qonnx.custom_op.registry import getCustomOp

    if standalone:
        base, _ = tiny_vgg_build
        cfg = copy_build(base, tmp_path, start_step="minimize_bit_width", stop_step="minimize_bit_width")
    else:
        cfg = make_config(FIXTURES / "tiny_vgg", out_dir=tmp_path / "b", verify_frames=2,
                          standalone_thresholds=False, stop_step="folding")
        run_build(cfg, log=lambda m: None)
        cfg = replace(cfg, start_step="minimize_bit_width", stop_step="minimize_bit_width")

    def too_narrow(model, cfg):
        model = S.step_minimize_bit_width(model, cfg)
        mv = [n for n in model.graph.node if n.op_type.startswith("MVAU")][1]
        assert getCustomOp(mv).get_nodeattr("noActivation") == (1 if standalone else 0)
        getCustomOp(mv).set_nodeattr("accDataType", "INT4")
        return model

    with pytest.raises(VerificationError) as e:
        run_build(cfg, steps=_replace("minimize_bit_width", too_narrow), log=lambda m: None)
    assert e.value.step == "minimize_bit_width"
    assert any("accDataType INT4" in p for p in e.value.details["problems"])


def test_failing_step_is_named(tmp_path):
    def crash(model, cfg):
        raise RuntimeError("boom")

    cfg = make_config(FIXTURES / "tiny_vgg", out_dir=tmp_path / "b", verify=False, stop_step="tidy_up")
    with pytest.raises(StepError) as e:
        run_build(cfg, steps=_replace("tidy_up", crash), log=lambda m: None)
    assert e.value.step == "tidy_up" and "boom" in str(e.value)
    assert "RuntimeError" in (cfg.out_dir / "error.txt").read_text()


def test_io_json_must_agree_with_the_graph(tmp_path):
    import shutil

    d = tmp_path / "run"
    shutil.copytree(FIXTURES / "tiny_vgg", d)
    io = json.loads((d / "io.json").read_text())
    io["input"]["quant"]["scale"] = 0.03125
    (d / "io.json").write_text(json.dumps(io))
    cfg = make_config(d, out_dir=tmp_path / "b", verify=False, stop_step="detach_input_quant")
    with pytest.raises(StepError) as e:
        run_build(cfg, log=lambda m: None)
    assert e.value.step == "detach_input_quant" and "scale" in str(e.value)


def test_bare_onnx_without_io_json_derives_the_quantizer(tmp_path):
    import shutil

    shutil.copy(FIXTURES / "tiny_vgg" / "model.onnx", tmp_path / "vgg.onnx")
    cfg = make_config(tmp_path / "vgg.onnx", out_dir=tmp_path / "b", verify_frames=2,
                      stop_step="qonnx_to_finn")
    assert cfg.io.quant.scale == 0.015625 and cfg.io.quant.bit_width == 8 and cfg.io.quant.signed
    assert "derived" in cfg.io.source
    run_build(cfg, log=lambda m: None)  # verified against the model with the derived quantizer
    assert cfg.out_dir.name == "b"


def test_restart_from_folding_with_another_target(tiny_vgg_build, tmp_path):
    """Restart at 'folding' from the build folder; earlier artefacts are reused. On other frames
    (verify_frames 3, not 4) the golden accelerator output is re-derived from the partition artefact."""
    base, _ = tiny_vgg_build
    before = (artefact_path(base, "specialize_layers")).read_bytes()
    cfg = copy_build(base, tmp_path, start_step="folding", target_fps=20000.0, verify_frames=3)
    run_build(cfg, log=lambda m: None)
    assert (artefact_path(cfg, "specialize_layers")).read_bytes() == before
    recs = json.loads((cfg.report_dir / "steps.json").read_text())
    assert [r["step"] for r in recs][-5:] == ["folding", "minimize_bit_width", "transpose_decomposition",
                                              "estimate_reports", "hw_codegen"]
    assert all(r["verification"]["passed"] and r["verification"]["int_output_exact"] for r in recs[-5:])
    rep = json.loads((cfg.out_dir / "report.json").read_text())
    assert rep["folding"]["strategy"] == "cheapest-for-target"
    assert 20000 <= rep["throughput"]["frames_per_s"] < 243000  # slower, cheaper than the fastest
    first = json.loads((base.out_dir / "report.json").read_text())
    assert rep["resources"]["LUT"]["estimate"] <= first["resources"]["LUT"]["estimate"]
    golden = np.load(cfg.verify_dir / "golden_partition.npz")["int_out"]
    assert golden.shape[0] == 3 and all(r["verification"]["frames"] == 3 for r in recs[-5:])

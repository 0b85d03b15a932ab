"""The step list runs through hw_codegen on the tiny fixtures, every step verified, and the build
folder holds what docs/artefacts.md "Build folder" promises."""
import json

import numpy as np
import pytest
from compile_support import VERIFY_FRAMES
from compile.runner import artefact_path
from compile.steps import STEP_NAMES


def _records(cfg):
    return json.loads((cfg.report_dir / "steps.json").read_text())


@pytest.mark.parametrize("which", ["tiny_vgg_build", "tiny_dsres_build", "tiny_bacalhau_build",
                                   "tiny_bacalhau_rq_build"])
def test_every_step_runs_and_verifies(which, request):
    cfg, result = request.getfixturevalue(which)
    recs = _records(cfg)
    assert [r["step"] for r in recs] == STEP_NAMES
    for i, (r, name) in enumerate(zip(recs, STEP_NAMES)):
        assert (cfg.steps_dir / f"{i + 1:02d}_{name}.onnx").is_file()
        v = r["verification"]
        assert v["passed"], (name, v["problems"])
        assert v["frames"] == VERIFY_FRAMES
        assert v["top1_agree"] + v["top1_ties"] >= VERIFY_FRAMES
    # from the partition on, the accelerator's integer output was compared bit for bit
    part = STEP_NAMES.index("create_dataflow_partition")
    assert all(r["verification"]["int_output_exact"] is True for r in recs[part:])
    assert all(r["verification"]["mode"] == "parent+child" for r in recs[part:])


def test_tiny_vgg_accelerator_layers(tiny_vgg_build):
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, _ = tiny_vgg_build
    m = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    ops = {n.op_type.rsplit("_", 1)[0] for n in m.graph.node}
    assert {"MVAU", "Thresholding", "ConvolutionInputGenerator", "FMPadding", "Pool"} <= ops
    assert all(n.domain.startswith("finn.custom_op.fpgadataflow.") for n in m.graph.node)
    assert m.get_tensor_datatype(m.graph.input[0].name).name == "INT8"  # the host's input codes


def test_tiny_dsres_keeps_the_residual_in_hardware(tiny_dsres_build):
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, _ = tiny_dsres_build
    m = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    ops = {n.op_type.rsplit("_", 1)[0] for n in m.graph.node}
    assert {"VVAU", "DuplicateStreams", "ElementwiseAdd", "MVAU"} <= ops


@pytest.mark.parametrize("which", ["tiny_bacalhau_build", "tiny_bacalhau_rq_build"])
def test_tiny_bacalhau_accelerator_layers(which, request):
    """BacalhauNet's shape in miniature: the shared-scale residual add streams as an integer add (its
    7-bit sum into the next depthwise conv, or into the signed requantizer), and the classifier's own
    signed 8-bit input quantizer after the global max pool (our one-pass StreamingGlobalMaxPool, no
    sliding window and Pool) is a Thresholding layer in the accelerator (no Flatten or 1x1 Shuffle left
    in front of it)."""
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, _ = request.getfixturevalue(which)
    m = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    ops = [n.op_type.rsplit("_", 1)[0] for n in m.graph.node]
    assert {"VVAU", "DuplicateStreams", "ElementwiseAdd", "StreamingGlobalMaxPool", "Thresholding", "MVAU"} <= set(ops)
    assert "Pool" not in ops
    assert "Shuffle" not in ops and all(n.domain.startswith("finn.custom_op.fpgadataflow.") for n in m.graph.node)
    add = next(n for n in m.graph.node if n.op_type.startswith("ElementwiseAdd"))
    assert [m.get_tensor_datatype(t).name for t in add.input] == ["UINT6", "UINT6"]
    assert m.get_tensor_datatype(add.output[0]).name == "UINT7"
    after_add = m.find_consumer(add.output[0])
    if which == "tiny_bacalhau_rq_build":  # the signed 6-bit requantizer of the sum
        assert after_add.op_type.startswith("Thresholding")
        assert m.get_tensor_datatype(after_add.output[0]).name == "INT6"
    else:  # the sum, unquantized, is the next depthwise conv's input
        assert after_add.op_type.startswith("FMPadding")
    pool = next(n for n in m.graph.node if n.op_type.startswith("StreamingGlobalMaxPool"))
    fc_quant = m.find_consumer(pool.output[0])
    assert fc_quant.op_type.startswith("Thresholding")
    assert m.get_tensor_datatype(fc_quant.output[0]).name == "INT8"
    assert m.find_consumer(fc_quant.output[0]).op_type.startswith("MVAU")


def test_generated_sources_for_every_layer(tiny_vgg_build):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    cfg, _ = tiny_vgg_build
    m = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    for node in m.graph.node:
        d = getCustomOp(node).get_nodeattr("code_gen_dir_ipgen")
        assert d and str(cfg.codegen_dir.resolve()) in d, node.name
        files = [p.name for p in __import__("pathlib").Path(d).iterdir()]
        want = (".cpp",) if node.op_type.endswith("_hls") else (".v", ".sv")
        assert any(f.endswith(want) for f in files), (node.name, files)


def test_report_figures_are_consistent(tiny_vgg_build):
    cfg, _ = tiny_vgg_build
    rep = json.loads((cfg.out_dir / "report.json").read_text())
    t = rep["throughput"]
    cycles = max(r["cycles"] for r in rep["layers"])
    assert t["cycles_per_frame"] == cycles
    assert t["frames_per_s"] == pytest.approx(cfg.clock_mhz * 1e6 / cycles)
    assert t["iq_samples_per_s"] == pytest.approx(t["frames_per_s"] * 1024)
    assert rep["latency"]["cycles"] >= cycles
    for res, u in rep["resources"].items():
        assert u["estimate"] == pytest.approx(sum(r[res] for r in rep["layers"]))
        assert u["capacity"] == cfg.board.resources[res]
    assert rep["fits_budget"]
    assert {"PE", "SIMD", "cycles", "LUT", "BRAM_18K", "URAM", "DSP"} <= set(rep["layers"][0])
    md = (cfg.out_dir / "report.md").read_text()
    assert "frames/s" in md and "MVAU" in md
    for f in ("estimate_layer_cycles.json", "estimate_layer_resources.json",
              "estimate_network_performance.json", "op_and_param_counts.json"):
        assert (cfg.report_dir / "finn" / f).is_file()


def test_accelerator_boundary_is_described(tiny_vgg_build):
    cfg, _ = tiny_vgg_build
    acc = json.loads((cfg.out_dir / "accelerator.json").read_text())
    assert acc["input"]["accelerator_datatype"] == "INT8"
    assert acc["input"]["codes_from"]["quant"]["scale"] == 0.015625
    assert [o["op_type"] for o in acc["host"]["pre"]] == ["Transpose"]
    assert [o["op_type"] for o in acc["host"]["post"]] == ["Mul", "Add"]  # dequantise, bias
    assert acc["output"]["accelerator_datatype"].startswith("INT")


def test_host_side_quantizer_matches_the_model(tiny_vgg_build):
    """The reference codes are the host's quantization of the frames; the original model saw the
    floats, and the detached graph the codes, with identical outputs (checked at step 1)."""
    cfg, _ = tiny_vgg_build
    d = np.load(cfg.verify_dir / "reference.npz")
    q = cfg.io.quant
    assert d["codes"].min() >= q.min_code and d["codes"].max() <= q.max_code
    assert np.array_equal(d["codes"], q.quantize(d["frames"]))
    assert (d["codes"] == q.min_code).any() and (d["codes"] == q.max_code).any()  # clipping exercised
    rec = _records(cfg)[0]
    assert rec["step"] == "detach_input_quant" and rec["verification"]["max_abs_err"] == 0.0

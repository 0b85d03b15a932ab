"""The official baseline: the published checkpoint loads into our VGG10 and our export scores 1.0."""


import numpy as np
import pytest
import torch

from amc_cli.paths import REPO_ROOT
from model.cost import inference_cost_report
from model.export import ExportMismatch, export_qonnx_model, io_description, verify_export
from model.nets import build_net

REF = REPO_ROOT / "tests" / "fixtures" / "reference"


@pytest.fixture(scope="module")
def baseline():
    net = build_net("vgg10")
    net.load_state_dict(torch.load(REF / "vgg10_w8a8_baseline.pth", map_location="cpu", weights_only=True), strict=True)
    return net.eval()


@pytest.fixture(scope="module")
def baseline_onnx(baseline, tmp_path_factory):
    return export_qonnx_model(baseline, tmp_path_factory.mktemp("export") / "vgg10.onnx")


def test_our_export_of_the_baseline_reproduces_its_cost(baseline_onnx):
    rep = inference_cost_report(baseline_onnx)
    assert (rep.total_bops, rep.total_mem_w_bits) == (807699904, 1244936)
    assert f"{rep.score:.6f}" == "1.000000"


def test_export_matches_pytorch_and_io_json_describes_the_input_quantizer(baseline, baseline_onnx):
    frames = np.random.default_rng(0).normal(0, 0.7, (4, 2, 1024)).astype(np.float32)
    report = verify_export(baseline, baseline_onnx, frames)
    assert report["top1_agreement"] == 1.0
    io = io_description(baseline_onnx, "vgg10", None)
    q = io["input"]["quant"]
    assert io["input"]["shape"] == [1, 2, 1024] and io["output"]["shape"] == [1, 24]
    assert (q["bit_width"], q["signed"], q["scale"], q["min"], q["max"]) == (8, True, 1 / 64, -2.0, 127 / 64)


def test_verification_catches_a_graph_that_diverges(baseline, baseline_onnx, tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(str(baseline_onnx))
    last_gemm = model.get_nodes_by_op_type("Gemm")[-1]
    weight_quant = model.find_producer(last_gemm.input[1])  # Quant node of the classifier weights
    w = model.get_initializer(weight_quant.input[0])
    model.set_initializer(weight_quant.input[0], w[::-1].copy())  # swap the classes' weight rows
    broken = tmp_path / "broken.onnx"
    model.save(str(broken))
    frames = np.random.default_rng(1).normal(0, 0.7, (3, 2, 1024)).astype(np.float32)
    with pytest.raises(ExportMismatch, match="diverges"):
        verify_export(baseline, broken, frames)


def test_near_ties_and_rare_rounding_boundary_frames_are_not_divergences():
    """Two runtimes may round an activation at a quantization threshold to neighbouring codes: one frame's
    logits then all move a little (a VGG10 trained here: 0.04, 0.2% of the logit scale, top-1 kept), and
    exactly tied logits may swap (an 'ours' export: 15/16 top-1, max difference 5.7e-06). Neither is a
    divergence; a clear top-1 flip, a large difference, or many shifted frames are."""
    from model.export import compare_logits

    rng = np.random.default_rng(0)
    ref = rng.normal(0, 5, (16, 24))
    ref[0, :2] = [20.0, 20.0]  # frame 0: an exact tie at the top
    got = ref + rng.normal(0, 1e-6, ref.shape)
    got[0, 1] += 1e-5  # ... that the other runtime breaks the other way
    got[5] += rng.uniform(-0.04, 0.04, 24)  # frame 5: a rounding-boundary frame
    report = compare_logits(ref, got)
    assert not report["diverges"]
    counts = (report["top1_near_ties"], report["rounding_boundary_frames"], report["top1_disagreements"])
    assert counts == (1, 1, 0)

    flipped = got.copy()
    flipped[3] = ref[3]
    flipped[3, ref[3].argmin()] = ref[3].max() + 1.0  # a clear flip
    report = compare_logits(ref, flipped)
    assert report["top1_disagreements"] == 1 and report["diverges"]
    far = got.copy()
    far[7] += 0.5  # 2.5% of the logit scale
    assert compare_logits(ref, far)["diverges"]
    many = got.copy()
    many[8:12] += rng.uniform(-0.04, 0.04, (4, 24))  # five shifted frames of 16: more than an eighth
    assert compare_logits(ref, many)["diverges"]

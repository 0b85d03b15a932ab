"""The official baseline: the published checkpoint loads into our VGG10 and our export scores 1.0."""

from pathlib import Path

import numpy as np
import pytest
import torch

from model.cost import inference_cost_report
from model.export import ExportMismatch, export_qonnx_model, io_description, verify_export
from model.nets import build_net

REF = Path(__file__).parent / "fixtures" / "reference"


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


def test_a_near_tie_in_the_logits_is_not_a_divergence():
    """Quantized logits tie exactly; another runtime's rounding may break the tie the other way (a 'ours'
    export failed so: 15/16 top-1, max difference 5.7e-06). A flip between near-equal logits is reported as
    a near-tie, and a flip between clearly different logits is still a disagreement."""
    from model.export import top1_mismatches

    ref = np.array([[1.0, 2.0, 2.0], [0.0, 3.0, 1.0], [5.0, 0.0, 0.0]])
    got = ref + np.array([[0.0, 0.0, 1e-6], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # row 0: the tie breaks to class 2
    assert top1_mismatches(ref, got, tolerance=1e-4) == (0, 1)
    got[1] = [0.0, 1.0, 3.0]  # row 1: class 2 wins by 2, far beyond the tolerance
    assert top1_mismatches(ref, got, tolerance=1e-4) == (1, 1)
    assert top1_mismatches(ref, ref, tolerance=1e-4) == (0, 0)

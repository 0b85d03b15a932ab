"""The challenge's cost figures, reproduced from the published reference files."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from amc_cli import RefusedInput
from amc_cli.paths import REPO_ROOT
from model.cost import challenge_score, inference_cost_report

REF = REPO_ROOT / "tests" / "fixtures" / "reference"


def test_baseline_2021_export_scores_one():
    rep = inference_cost_report(REF / "vgg10_w8a8_baseline_2021_export.onnx")
    assert rep.total_bops == 807699904
    assert rep.total_mem_w_bits == 1244936
    assert f"{rep.score:.6f}" == "1.000000"
    assert rep.total_mem_w_elems == 155617  # non-zero weights of the baseline
    assert len(rep.layers) == 10 and not rep.unsupported_ops and not rep.free_arithmetic


def test_aaronnet_reproduces_published_figures_and_names_globalmaxpool():
    rep = inference_cost_report(REF / "aaronnet32pp_2021_export.onnx")
    assert (rep.total_bops, rep.total_mem_w_bits) == (13068840, 18960)
    assert f"{rep.score:.6f}" == "0.015705"
    assert rep.unsupported_ops == ["GlobalMaxPool"]
    # its depthwise convs see un-requantized (float) inputs: costed at 32 bits
    assert any(layer.input_dtype == "FLOAT32" for layer in rep.layers)


def _graph_with_hidden_arithmetic(path: Path) -> Path:
    """Conv, x*x and x*table (free by the rules), a per-channel scale (scaffolding, not listed), Pow and
    ReduceSum (unknown to the cost function)."""
    w = numpy_helper.from_array(np.ones((4, 2, 3), np.float32), "w")
    table = numpy_helper.from_array(np.ones((1, 4, 1024), np.float32), "table")
    per_channel = numpy_helper.from_array(np.ones((1, 4, 1), np.float32), "per_channel")
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    axes = numpy_helper.from_array(np.array([2], np.int64), "axes")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3], pads=[1, 1]),
        helper.make_node("Mul", ["c", "c"], ["sq"]),
        helper.make_node("Mul", ["sq", "table"], ["tab"]),
        helper.make_node("Mul", ["tab", "per_channel"], ["scaled"]),
        helper.make_node("Pow", ["scaled", "two"], ["p"]),
        helper.make_node("ReduceSum", ["p", "axes"], ["y"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "hidden", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w, two, axes, table, per_channel],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_unknown_and_free_operators_are_named(tmp_path):
    rep = inference_cost_report(_graph_with_hidden_arithmetic(tmp_path / "h.onnx"))
    assert rep.unsupported_ops == ["Pow", "ReduceSum"]
    assert [(n.op_type, n.operand, n.output_elems) for n in rep.free_arithmetic] == [
        ("Mul", "activation", 4096), ("Mul", "constant", 4096)]
    # float input and float weights: 32 x 32 bits per MAC
    assert rep.total_bops == 4 * 2 * 3 * 1024 * 32 * 32
    assert rep.score == pytest.approx(challenge_score(rep.total_bops, rep.total_mem_w_bits))


def test_bad_files_fail_with_a_reason(tmp_path):
    with pytest.raises(RefusedInput, match="no such file"):
        inference_cost_report(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not an onnx file")
    with pytest.raises(RefusedInput, match="not a readable ONNX"):
        inference_cost_report(junk)


def test_cli_prints_json_totals():
    out = subprocess.run(
        [sys.executable, "-m", "model.cost", str(REF / "aaronnet32pp_2021_export.onnx"), "--json"],
        capture_output=True, text=True, check=True,
    )
    rep = json.loads(out.stdout)
    assert rep["total_bops"] == 13068840 and rep["unsupported_ops"] == ["GlobalMaxPool"]


def test_a_conv_without_kernel_shape_is_costed_as_its_weights_say(tmp_path):
    """kernel_shape is optional in ONNX (the weight's spatial shape); the cost must not depend on it."""
    import onnx

    src = REPO_ROOT / "tests" / "fixtures" / "compile" / "tiny_vgg" / "model.onnx"
    m = onnx.load(str(src))
    for node in m.graph.node:
        if node.op_type == "Conv":
            keep = [a for a in node.attribute if a.name != "kernel_shape"]
            del node.attribute[:]
            node.attribute.extend(keep)
    stripped = tmp_path / "model.onnx"
    onnx.save(m, str(stripped))
    a, b = inference_cost_report(src), inference_cost_report(stripped)
    assert (a.total_bops, a.total_mem_w_bits) == (b.total_bops, b.total_mem_w_bits)

"""compile/transforms/transposes.py: max pools made channels-last with their transposes absorbed, and
transposes that cancel removed (computing what the graph computed)."""
from __future__ import annotations

import numpy as np
from compile_support import run_graph, step_graph
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from compile.transforms.transposes import NHWCCleanup, SettleTransposes


def _ops(model) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_max_pools_go_channels_last_and_their_transposes_are_absorbed(tiny_vgg_build):
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.streamline import Streamline
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

    model = step_graph(tiny_vgg_build, "pre_streamline_1d")
    for tr in (absorb.AbsorbScalarBiasIntoMultiThreshold(), Streamline(), LowerConvsToMatMul()):
        model = model.transform(tr)
    assert "MaxPool" in _ops(model)
    cleaned = model.transform(NHWCCleanup())
    assert "MaxPool" not in _ops(cleaned) and "MaxPoolNHWC" in _ops(cleaned)
    assert _ops(cleaned).count("Transpose") < _ops(model).count("Transpose")
    # (mid-step, a MultiThreshold that took a transpose in executes only once its layout is settled: the
    # streamline step's verification executes the result against the step before)


def test_transposes_that_cancel_around_a_fork_are_removed():
    """x -> NHWC -> NCHW -> (Relu, Neg) -> Add: the two transposes are the identity, wherever the fork is."""
    nodes = [helper.make_node("Transpose", ["x"], ["a"], perm=[0, 2, 3, 1]),
             helper.make_node("Transpose", ["a"], ["b"], perm=[0, 3, 1, 2]),
             helper.make_node("Relu", ["b"], ["r"]), helper.make_node("Neg", ["b"], ["n"]),
             helper.make_node("Add", ["r", "n"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 5])])
    model = ModelWrapper(qonnx_make_model(graph)).transform(InferShapes())
    settled = model.transform(SettleTransposes())
    assert "Transpose" not in _ops(settled)
    x = np.random.default_rng(1).normal(size=(1, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(run_graph(settled, x), run_graph(model, x))

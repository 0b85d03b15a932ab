"""compile/transforms/multithreshold_range.py: a MultiThreshold annotated with the range it counts, executed."""
from __future__ import annotations

import numpy as np
import pytest
from compile_support import run_graph
from qonnx.core.modelwrapper import ModelWrapper

from compile.transforms.multithreshold_range import AnnotateMultiThresholdRange


def _multithreshold(out_dtype: str, n_thresholds: int, bias: float = 0.0) -> ModelWrapper:
    from onnx import TensorProto, helper
    from qonnx.util.basic import qonnx_make_model

    node = helper.make_node("MultiThreshold", ["x", "thr"], ["y"], domain="qonnx.custom_op.general",
                            out_dtype=out_dtype, out_bias=bias)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_initializer("thr", np.tile(np.arange(n_thresholds, dtype=np.float32), (2, 1)))
    return model


@pytest.mark.parametrize("out_dtype, bias, want", [("INT4", 0.0, "UINT4"), ("INT4", -8.0, "INT4"),
                                                   ("INT8", 0.0, "UINT8"), ("INT2", -1.0, "INT3")])
def test_a_multithreshold_is_annotated_with_the_range_it_counts(out_dtype, bias, want):
    from qonnx.core.datatype import DataType
    from qonnx.custom_op.registry import getCustomOp

    n = 2 ** DataType[out_dtype].bitwidth() - 1
    model = _multithreshold(out_dtype, n, bias).transform(AnnotateMultiThresholdRange())
    assert getCustomOp(model.graph.node[0]).get_nodeattr("out_dtype") == want
    if want != out_dtype:
        assert model.get_tensor_datatype("y").name == want
    y = run_graph(model, np.array([[-1.0, n + 1.0]], np.float32))  # below every threshold, above every one
    assert [float(v) for v in y.ravel()] == [bias, bias + n]
    assert all(DataType[want].allowed(v) for v in y.ravel())

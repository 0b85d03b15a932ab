"""compile/transforms/global_pool.py: a max pool over the whole input becomes one streaming StreamingGlobalMaxPool;
a pool over part of it, or over floats, is left to FINN's InferPool. Its RTL: tests/compile/rtlsim/."""
from __future__ import annotations

import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from compile.transforms.global_pool import InferStreamingGlobalMaxPool


def _pool(kernel: list[int], out_hw: list[int], dtype: str) -> ModelWrapper:
    node = helper.make_node("MaxPoolNHWC", ["x"], ["y"], domain="qonnx.custom_op.general", kernel_shape=kernel,
                            strides=kernel, pads=[0, 0, 0, 0], name="Pool")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 1, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, *out_hw, 6])])
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_tensor_datatype("x", DataType[dtype])
    return model


def test_a_whole_input_max_pool_is_one_streaming_pass():
    model = _pool([16, 1], [1, 1], "INT4").transform(InferStreamingGlobalMaxPool())
    (node,) = model.graph.node
    assert node.op_type == "StreamingGlobalMaxPool"
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["ImgDims"] == [16, 1] and attrs["NumChannels"] == 6 and attrs["inputDataType"] == b"INT4"
    assert model.get_tensor_datatype("y") == DataType["INT4"]


@pytest.mark.parametrize("kernel, out_hw, dtype", [([2, 1], [8, 1], "INT4"), ([16, 1], [1, 1], "FLOAT32")])
def test_a_partial_or_float_pool_is_left_to_finn(kernel, out_hw, dtype):
    model = _pool(kernel, out_hw, dtype)
    assert [n.op_type for n in model.transform(InferStreamingGlobalMaxPool()).graph.node] == ["MaxPoolNHWC"]

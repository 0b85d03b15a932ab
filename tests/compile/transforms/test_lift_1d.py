"""compile/transforms/lift_1d.py: the 1-D graph lifted to 4-D computes what it computed (the lift of Concat and
global pools: tests/compile/test_compile_concat.py)."""
from __future__ import annotations

import numpy as np
from compile_support import step_graph

from compile.transforms.lift_1d import LiftTo4D


def test_the_1d_lift_computes_what_the_1d_graph_computes(tiny_vgg_build):
    from qonnx.core.onnx_exec import execute_onnx

    flat = step_graph(tiny_vgg_build, "tidy_up")
    iname = flat.graph.input[0].name
    assert len(flat.get_tensor_shape(iname)) == 3
    lifted = flat.transform(LiftTo4D())
    shape = lifted.get_tensor_shape(lifted.graph.input[0].name)
    assert shape == [*flat.get_tensor_shape(iname), 1]
    x = np.random.default_rng(0).integers(-128, 128, flat.get_tensor_shape(iname)).astype(np.float32)
    want = execute_onnx(flat, {iname: x})[flat.graph.output[0].name]
    got = execute_onnx(lifted, {lifted.graph.input[0].name: x.reshape(shape)})[lifted.graph.output[0].name]
    assert np.array_equal(np.asarray(got).reshape(want.shape), want)

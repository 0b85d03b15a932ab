"""compile/transforms/inputview.py: the polyphase view is the interleaved frame read as rows of P samples (the
driver's copy agrees), and a chain after the input that is not that view is refused by name. The view moved
to the host in a build: tests/test_polyphase.py."""
from __future__ import annotations

import numpy as np
import pytest


def test_the_view_is_the_interleaved_frame_read_as_rows_of_p_samples():
    from compile.transforms.inputview import polyphase_view
    from driver.meta import polyphase_rows

    rng = np.random.default_rng(0)
    codes = rng.integers(-128, 128, (3, 2, 64)).astype(np.float32)
    for p in (1, 2, 4, 8):
        v = polyphase_view(codes, p)
        assert v.shape == (3, 2 * p, 64 // p)
        # channels last, it is the (L, 2) interleaved frame reshaped to (L/P, 2P): the same bytes
        np.testing.assert_array_equal(v.transpose(0, 2, 1), codes.transpose(0, 2, 1).reshape(3, 64 // p, 2 * p))
        # channel 2p + i at step t holds sample P t + p of I (i = 0) or Q (i = 1)
        assert v[1, 2 * (p - 1) + 1, 3] == codes[1, 1, p * 3 + p - 1]
        np.testing.assert_array_equal(polyphase_rows(codes, p), v)  # the driver's copy agrees


def test_a_chain_that_is_not_a_polyphase_view_is_refused_by_name():
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from compile.transforms.inputview import InputViewError, MoveViewToHost

    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 16])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 2])
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1], name="SwapAxes"),
             helper.make_node("Relu", ["t"], ["y"], name="Act")]
    m = ModelWrapper(qonnx_make_model(helper.make_graph(nodes, "g", [inp], [out])))
    with pytest.raises(InputViewError, match="SwapAxes"):
        m.transform(MoveViewToHost())

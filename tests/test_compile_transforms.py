"""compile/transforms/ as qonnx Transformations: the contract (one pass, a ModelWrapper back), a graph without
what a rewrite is for left byte for byte as it was, and the 1-D lift executed and compared with the graph it
came from. Each rewrite's own behaviour is tested in its file's test (residual_rescale, unrolled_depthwise,
polyphase, compile_concat, rtlsim_global_pool)."""
from __future__ import annotations

import numpy as np
import pytest
from compile_support import tiny_vgg_build  # noqa: F401
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from compile.runner import artefact_path
from compile.transforms.branches import StreamlineBranches
from compile.transforms.global_pool import InferGlobalAccPool
from compile.transforms.inputview import MoveViewToHost
from compile.transforms.lift_1d import LiftTo4D
from compile.transforms.residual_rescale import RescaleResidualAdds
from compile.transforms.transposes import NHWCCleanup, SettleTransposes
from compile.transforms.unrolled_depthwise import LowerUnrolledDepthwise

ALL = [LiftTo4D, StreamlineBranches, RescaleResidualAdds, LowerUnrolledDepthwise, InferGlobalAccPool,
       MoveViewToHost, NHWCCleanup, SettleTransposes]


def _step(build, name: str) -> ModelWrapper:
    cfg, _ = build
    return ModelWrapper(str(artefact_path(cfg, name)))


def _graph_for(build, cls) -> ModelWrapper:
    """The step's graph each rewrite runs on: the input view right after the quantizer left; the rest
    after streamlining."""
    return _step(build, "detach_input_quant" if cls is MoveViewToHost else "streamline")


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_each_rewrite_is_one_pass_of_a_qonnx_transformation(tiny_vgg_build, cls):
    assert issubclass(cls, Transformation)
    model, changed = cls().apply(_graph_for(tiny_vgg_build, cls))
    assert isinstance(model, ModelWrapper) and changed is False  # one pass: ModelWrapper.transform stops


@pytest.mark.parametrize("cls", [LiftTo4D, RescaleResidualAdds, LowerUnrolledDepthwise, InferGlobalAccPool,
                                 MoveViewToHost], ids=lambda c: c.__name__)
def test_a_graph_without_what_a_rewrite_is_for_is_left_as_it_was(tiny_vgg_build, cls):
    """tiny_vgg after streamlining: 4-D, no residual adds, dense convolutions, no average pool; no view."""
    model = _graph_for(tiny_vgg_build, cls)
    assert model.transform(cls()).model.SerializeToString() == model.model.SerializeToString()


def test_the_1d_lift_computes_what_the_1d_graph_computes(tiny_vgg_build):
    from qonnx.core.onnx_exec import execute_onnx

    flat = _step(tiny_vgg_build, "tidy_up")
    iname = flat.graph.input[0].name
    assert len(flat.get_tensor_shape(iname)) == 3
    lifted = flat.transform(LiftTo4D())
    shape = lifted.get_tensor_shape(lifted.graph.input[0].name)
    assert shape == [*flat.get_tensor_shape(iname), 1]
    x = np.random.default_rng(0).integers(-128, 128, flat.get_tensor_shape(iname)).astype(np.float32)
    want = execute_onnx(flat, {iname: x})[flat.graph.output[0].name]
    got = execute_onnx(lifted, {lifted.graph.input[0].name: x.reshape(shape)})[lifted.graph.output[0].name]
    assert np.array_equal(np.asarray(got).reshape(want.shape), want)

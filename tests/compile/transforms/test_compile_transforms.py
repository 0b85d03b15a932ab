"""compile/transforms/ as qonnx Transformations: the contract (one pass, a ModelWrapper back), and a graph without
what a rewrite is for left byte for byte as it was. Each rewrite's behaviour is tested in the file of its name
(test_<module>.py here; the 1-D lift of Concat and global pools in tests/compile/test_compile_concat.py, the
polyphase view in tests/test_polyphase.py, the global pool in tests/compile/rtlsim/)."""
from __future__ import annotations

import pytest
from compile_support import step_graph
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from compile.transforms.branches import StreamlineBranches
from compile.transforms.global_pool import InferGlobalAccPool
from compile.transforms.inputview import MoveViewToHost
from compile.transforms.lift_1d import LiftTo4D
from compile.transforms.minimize_bit_width import MinimizeBitWidths
from compile.transforms.multithreshold_range import AnnotateMultiThresholdRange
from compile.transforms.residual_rescale import RescaleResidualAdds
from compile.transforms.streamline_joins import StreamlineExhaustively, StreamlineForksAndJoins
from compile.transforms.transposes import NHWCCleanup, SettleTransposes
from compile.transforms.unrolled_depthwise import LowerUnrolledDepthwise

ALL = [LiftTo4D, StreamlineBranches, RescaleResidualAdds, LowerUnrolledDepthwise, InferGlobalAccPool,
       MoveViewToHost, NHWCCleanup, SettleTransposes, AnnotateMultiThresholdRange, StreamlineForksAndJoins,
       StreamlineExhaustively, MinimizeBitWidths]


def _graph_for(build, cls) -> ModelWrapper:
    """The step's graph each rewrite runs on: the input view right after the quantizer left; the rest
    after streamlining."""
    return step_graph(build, "detach_input_quant" if cls is MoveViewToHost else "streamline")


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_each_rewrite_is_one_pass_of_a_qonnx_transformation(tiny_vgg_build, cls):
    assert issubclass(cls, Transformation)
    model, changed = cls().apply(_graph_for(tiny_vgg_build, cls))
    assert isinstance(model, ModelWrapper) and changed is False  # one pass: ModelWrapper.transform stops


@pytest.mark.parametrize("cls", [LiftTo4D, RescaleResidualAdds, LowerUnrolledDepthwise, InferGlobalAccPool,
                                 MoveViewToHost, AnnotateMultiThresholdRange, StreamlineForksAndJoins,
                                 StreamlineExhaustively], ids=lambda c: c.__name__)
def test_a_graph_without_what_a_rewrite_is_for_is_left_as_it_was(tiny_vgg_build, cls):
    """tiny_vgg after streamlining: 4-D, no residual adds, dense convolutions, no average pool; no view."""
    model = _graph_for(tiny_vgg_build, cls)
    assert model.transform(cls()).model.SerializeToString() == model.model.SerializeToString()

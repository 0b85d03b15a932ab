"""compile/transforms/ as qonnx Transformations: the contract (one pass, a ModelWrapper back), a graph without
what a rewrite is for left byte for byte as it was; the rewrites of the flow's own steps (input quantizer to
the host, MultiThreshold ranges, forks and joins streamlined, bit widths) and the 1-D lift executed and compared
with the graph they came from. The larger rewrites have their own test files (residual_rescale,
unrolled_depthwise, polyphase, compile_concat, rtlsim_global_pool)."""
from __future__ import annotations

import numpy as np
import pytest
from compile_support import FIXTURES
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from compile.runner import artefact_path
from compile.transforms.branches import StreamlineBranches
from compile.transforms.detach_input_quant import DetachInputQuant, InputQuantError
from compile.transforms.global_pool import InferGlobalAccPool
from compile.transforms.inputview import MoveViewToHost
from compile.transforms.lift_1d import LiftTo4D
from compile.transforms.minimize_bit_width import MinimizeBitWidths
from compile.transforms.multithreshold_range import AnnotateMultiThresholdRange
from compile.transforms.residual_rescale import RescaleResidualAdds
from compile.transforms.streamline_joins import (
    StreamlineExhaustively,
    StreamlineForksAndJoins,
    float_between_layers,
)
from compile.transforms.transposes import NHWCCleanup, SettleTransposes
from compile.transforms.unrolled_depthwise import LowerUnrolledDepthwise

ALL = [LiftTo4D, StreamlineBranches, RescaleResidualAdds, LowerUnrolledDepthwise, InferGlobalAccPool,
       MoveViewToHost, NHWCCleanup, SettleTransposes, AnnotateMultiThresholdRange, StreamlineForksAndJoins,
       StreamlineExhaustively, MinimizeBitWidths]


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
                                 MoveViewToHost, AnnotateMultiThresholdRange, StreamlineForksAndJoins,
                                 StreamlineExhaustively], ids=lambda c: c.__name__)
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


def _run(model, x):
    from qonnx.core.onnx_exec import execute_onnx

    return execute_onnx(model, {model.graph.input[0].name: x})[model.graph.output[0].name]


def test_the_input_quantizer_moves_to_the_host_and_the_graph_computes_the_same_on_codes():
    from compile.iodesc import load_io

    path = FIXTURES / "tiny_vgg" / "model.onnx"
    model, quant = ModelWrapper(str(path)), load_io(path).quant
    codes = np.random.default_rng(0).integers(quant.min_code, quant.max_code + 1, (1, 2, 1024)).astype(np.float32)
    want = _run(model, codes * quant.scale)  # the original graph quantizes float I/Q itself
    detached = model.transform(DetachInputQuant(quant))
    assert not detached.get_nodes_by_op_type("Quant")[:1] or detached.find_consumers(
        detached.graph.input[0].name)[0].op_type != "Quant"
    assert detached.get_tensor_datatype(detached.graph.input[0].name).name == quant.finn_datatype
    np.testing.assert_allclose(_run(detached, codes), want, rtol=1e-5, atol=1e-5)
    # a graph whose input already is integer codes is left as it is
    again = detached.transform(DetachInputQuant(quant))
    assert again.model.SerializeToString() == detached.model.SerializeToString()


def test_an_input_quantizer_unlike_io_json_is_refused_naming_the_field():
    from dataclasses import replace

    from compile.iodesc import load_io

    path = FIXTURES / "tiny_vgg" / "model.onnx"
    quant = load_io(path).quant
    with pytest.raises(InputQuantError, match="scale: graph 0.015625 vs io.json 0.03125"):
        ModelWrapper(str(path)).transform(DetachInputQuant(replace(quant, scale=2 * quant.scale)))
    with pytest.raises(InputQuantError, match="input.quant is null"):
        ModelWrapper(str(path)).transform(DetachInputQuant(None))


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
    y = _run(model, np.array([[-1.0, n + 1.0]], np.float32))  # below every threshold, above every one
    assert [float(v) for v in y.ravel()] == [bias, bias + n]
    assert all(DataType[want].allowed(v) for v in y.ravel())


def test_forks_and_joins_are_streamlined_to_integers_computing_the_same(tiny_dsres_build):
    """tiny_dsres's residual block: FINN's Streamline alone leaves float scales at the fork and the join."""
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.streamline import Streamline
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

    model = _step(tiny_dsres_build, "pre_streamline_1d")
    for tr in (absorb.AbsorbScalarBiasIntoMultiThreshold(), Streamline(), LowerConvsToMatMul(), NHWCCleanup(),
               Streamline()):
        model = model.transform(tr)
    assert float_between_layers(model)
    joined = model.transform(StreamlineForksAndJoins())
    assert not float_between_layers(joined)
    x = np.random.default_rng(1).integers(-128, 128, model.get_tensor_shape(model.graph.input[0].name))
    np.testing.assert_allclose(_run(joined, x.astype(np.float32)), _run(model, x.astype(np.float32)),
                               rtol=1e-4, atol=1e-4)


def test_bit_widths_shrink_to_what_the_layers_need(tiny_vgg_build):
    from qonnx.core.datatype import DataType
    from qonnx.custom_op.registry import getCustomOp

    before = _step(tiny_vgg_build, "convert_to_hw")
    after = before.transform(MinimizeBitWidths())
    widths = []
    for old, new in zip(before.get_nodes_by_op_type("MVAU"), after.get_nodes_by_op_type("MVAU"), strict=True):
        a, b = getCustomOp(old), getCustomOp(new)
        for attr in ("accDataType", "weightDataType"):
            widths.append((DataType[a.get_nodeattr(attr)].bitwidth(), DataType[b.get_nodeattr(attr)].bitwidth()))
    assert widths and all(new <= old for old, new in widths)
    assert any(new < old for old, new in widths)


def test_the_host_ops_are_what_the_parent_graph_runs_around_the_partition(tiny_vgg_build):
    import json

    from compile.analysis import host_ops

    cfg, _ = tiny_vgg_build
    parent = ModelWrapper(str(cfg.parent_path))
    ops = parent.analysis(host_ops)
    names = [n.name for n in parent.graph.node if n.op_type != "StreamingDataflowPartition"]
    assert [e["name"] for e in ops["pre"] + ops["post"]] == names
    assert ops["post"] and all(e["op_type"] in ("Mul", "Add") for e in ops["post"])  # the dequantisation tail
    assert json.loads((cfg.out_dir / "accelerator.json").read_text())["host"] == ops

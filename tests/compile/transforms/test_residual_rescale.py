"""compile/transforms/residual_rescale.py: a residual add of integers on two scales, made exact in integers, checked
on every input pair against the float graph, and the adds it cannot make exact named with the reason."""
import numpy as np
from onnx import TensorProto, helper

S1, S2 = 0.0539, 0.046173  # two learned-looking scales (ratio 1.16735...: no small fraction)


def _graph(bits: int, n_thr: int, weights=None, seed=0, extra_output=None):
    """a, b: all pairs of `bits`-bit codes (rows); Mul(a, S1) + Mul(b, S2) [-> MatMul(weights)] ->
    MultiThreshold with random float thresholds over the sum's range."""
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    hi = 2 ** bits - 1
    taps = 1 if weights is None else len(weights)
    grid = np.array(np.meshgrid(*[np.arange(hi + 1)] * (2 * taps), indexing="ij")).reshape(2 * taps, -1).T
    a, b = grid[:, :taps].astype(np.float32), grid[:, taps:].astype(np.float32)
    rows = len(grid)
    nodes = [helper.make_node("Mul", ["a", "s1"], ["sa"], name="MulA"),
             helper.make_node("Mul", ["b", "s2"], ["sb"], name="MulB"),
             helper.make_node("Add", ["sa", "sb"], ["sum"], name="Join")]
    q_in = "sum"
    if weights is not None:
        nodes.append(helper.make_node("MatMul", ["sum", "w"], ["acc"], name="Conv"))
        q_in = "acc"
    nodes.append(helper.make_node("MultiThreshold", [q_in, "thr"], ["out"], domain="qonnx.custom_op.general",
                                  out_dtype="UINT8", data_layout="NC", name="Quant"))
    outs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, [rows, 1])]
    if extra_output:  # a tensor on the way also leaves the graph
        outs.append(helper.make_tensor_value_info(extra_output, TensorProto.FLOAT, [rows, taps]))
    g = helper.make_graph(nodes, "join",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [rows, taps]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [rows, taps])], outs)
    m = ModelWrapper(qonnx_make_model(g))
    m.set_initializer("s1", np.float32(S1))
    m.set_initializer("s2", np.float32(S2))
    w = np.asarray(weights if weights is not None else [1], dtype=np.float32).reshape(taps, 1)
    if weights is not None:
        m.set_initializer("w", w)
        m.set_tensor_datatype("w", DataType["INT4"])
    top = float((np.float32(S1) * hi + np.float32(S2) * hi) * np.abs(w).sum())
    rng = np.random.default_rng(seed)
    m.set_initializer("thr", np.sort(rng.uniform(-top, top, (1, n_thr))).astype(np.float32))
    for t in ("a", "b"):
        m.set_tensor_datatype(t, DataType[f"UINT{bits}"])
    from qonnx.transformation.infer_shapes import InferShapes

    return m.transform(InferShapes()), {"a": a, "b": b}


def _run(model, inputs):
    from finn.core.onnx_exec import execute_onnx

    return execute_onnx(model, inputs)["out"]


def _streamed(model):
    """The rescaled graph in FINN's HW layers, as convert_to_hw makes them."""
    from finn.transformation.fpgadataflow.convert_to_hw import (
        elementwise_binary_operation as ew,
        thresholding,
    )

    from compile.steps import _not_float

    model = model.transform(ew.InferElementwiseBinaryOperation(_not_float))
    return model.transform(thresholding.InferThresholdingLayer())


def _rescale(model, cfg=None):
    """The graph after RescaleResidualAdds, and that pass's outcomes."""
    from compile.transforms.residual_rescale import RescaleResidualAdds

    tr = RescaleResidualAdds(cfg)
    return model.transform(tr), tr.outcomes


def test_two_6bit_operands_into_a_quantizer_count_as_the_float_sum_on_every_pair():
    model, inputs = _graph(bits=6, n_thr=63)
    assert len(inputs["a"]) == 4096
    ref = _run(model, inputs)
    assert len(np.unique(ref)) > 32  # the thresholds spread over the sum's range
    model, outcomes = _rescale(model)
    (o,) = outcomes
    assert o.done, o.reason
    p1, p2 = o.multipliers
    assert abs(p2 / p1 - S2 / S1) < 1e-2 and max(p1, p2) < 2 ** 12  # a small grid, not float32's own
    assert o.pairs_checked == 4096 and o.thresholds_checked == 63
    assert _rescale(model)[1] == []  # a rescaled add is not taken for a two-scale one again
    from compile.analysis import join_scale_hints

    assert join_scale_hints(model) == []  # nor named by the partition's error
    hw = _streamed(model)
    ops = sorted(n.op_type for n in hw.graph.node)
    assert ops == ["ElementwiseAdd", "ElementwiseMul", "ElementwiseMul", "Thresholding"]
    assert all(hw.get_tensor_datatype(t).is_integer() for n in hw.graph.node for t in n.output)
    np.testing.assert_array_equal(_run(hw, inputs), ref)


def test_the_fewest_bits_are_chosen():
    """One step fewer on the path to S2/S1 than what the rescale picked does not count exactly."""
    from compile.transforms.residual_rescale import _constraints, integer_thresholds, two_scale_adds

    model, _ = _graph(bits=6, n_thr=63, seed=1)
    (add, a, b), = two_scale_adds(model)
    cons = _constraints(model, add, a, b)
    from compile.transforms.residual_rescale import RescaleConfig, solve

    p1, p2, _ = solve(a, b, cons, RescaleConfig())
    assert all(integer_thresholds(c, a.scale, b.scale, p1, p2) is not None for c in cons)
    # every fraction with smaller terms fails on some threshold
    for q1 in range(1, p1):
        for q2 in {int(np.floor(q1 * b.scale / a.scale)), int(np.ceil(q1 * b.scale / a.scale))}:
            if q2 < 1 or (q1, q2) == (p1, p2) or q2 > p2:
                continue
            assert any(integer_thresholds(c, a.scale, b.scale, q1, q2) is None for c in cons), (q1, q2)


def test_a_sum_through_an_integer_weight_layer_counts_exactly_on_every_window():
    """The sum feeds a 2-tap integer-weight layer (a conv's MatMul after Im2Col) before the quantizer:
    every pair of 3-bit windows (4,096) counts as in the float graph."""
    model, inputs = _graph(bits=3, n_thr=15, weights=[5, -3], seed=2)
    assert len(inputs["a"]) == 4096
    ref = _run(model, inputs)
    model, (o,) = _rescale(model)
    assert o.done, o.reason
    hw = _streamed(model)
    assert {"ElementwiseMul", "ElementwiseAdd", "MatMul", "Thresholding"} == {n.op_type for n in hw.graph.node}
    np.testing.assert_array_equal(_run(hw, inputs), ref)


def test_an_add_that_cannot_be_made_exact_is_named_with_its_reason():
    from compile.transforms.residual_rescale import RescaleConfig, recorded
    from compile.analysis import join_scale_hints

    # the float sum itself leaves the graph: no quantizer to count for
    model, _ = _graph(bits=6, n_thr=7, extra_output="sum")
    model, (o,) = _rescale(model)
    assert not o.done and "graph output" in o.reason
    assert model.get_initializer(model.graph.node[0].input[1]) == np.float32(S1)  # left as it was
    # an operand's scaled value is read elsewhere too: its scale cannot become an integer
    model, _ = _graph(bits=6, n_thr=7, extra_output="sa")
    model, (o,) = _rescale(model)
    assert not o.done and "sa (MulA) feeds other nodes too" in o.reason
    # multipliers capped below what exactness needs
    model, _ = _graph(bits=6, n_thr=63)
    model, (o,) = _rescale(model, RescaleConfig(max_multiplier_bits=3))
    assert not o.done and "below 2^3" in o.reason
    assert "Join adds UINT6 x 0.0539 and UINT6 x 0.046173: not made exact in integers" in o.describe()
    # the partition's error carries the recorded reason
    assert recorded(model)[0].reason == o.reason
    (hint,) = join_scale_hints(model)
    assert "Join" in hint and o.reason in hint and "shared quantizer" in hint

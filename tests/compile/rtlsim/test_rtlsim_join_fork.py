"""DuplicateStreams_rtl and StreamingConcat_rtl (compile/hwops/stream_fork.py, stream_concat.py): a stream forked
into N copies and joined again channel-wise is verilated as one design (FIFOs on the branches, as FINN inserts
them) and must give each frame's channels N times over, at full rate and under random back-pressure and
input gaps, one input beat per cycle."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

PART = "xczu7ev-ffvc1156-2-e"


def _fork_join(codegen, *, channels, pe, length, copies, idt, thresholds=None):
    """DuplicateStreams -> StreamingConcat over `copies` branches, FIFOs inserted and every node specialised
    to RTL (ours for the fork and the join) with its HDL generated into `codegen`. With `thresholds`
    (channels x steps), branch 1 goes through a Thresholding to UINT of log2(steps + 1) bits first, so the
    join's inputs differ in value and type."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.util.basic import qonnx_make_model

    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    dom = "finn.custom_op.fpgadataflow"
    branches = [f"b{k}" for k in range(copies)]
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, length, channels])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, length, channels * copies])
    fork = helper.make_node("DuplicateStreams", ["x"], branches, domain=dom, backend="fpgadataflow",
                            NumChannels=channels, PE=pe, NumOutputStreams=copies, inputDataType=idt,
                            numInputVectors=[1, length])
    nodes, joined, types = [fork], list(branches), [idt] * copies
    if thresholds is not None:
        steps = thresholds.shape[1]
        types[1] = f"UINT{int(np.log2(steps + 1))}"
        joined[1] = "t1"
        nodes.append(helper.make_node("Thresholding", ["b1", "thr"], ["t1"], domain=dom, backend="fpgadataflow",
                                      NumChannels=channels, PE=pe, numSteps=steps, inputDataType=idt,
                                      weightDataType=idt, outputDataType=types[1], numInputVectors=[1, length]))
    join = helper.make_node("StreamingConcat", joined, ["y"], domain=dom, backend="fpgadataflow", SIMD=pe,
                            ChannelsPerStream=[channels] * copies, inputDataTypes=types,
                            numInputVectors=[1, length],
                            inFIFODepths=[2 * channels // pe] * copies)  # a position's beats fit each branch
    value_info = [helper.make_tensor_value_info(b, TensorProto.FLOAT, [1, length, channels])
                  for b in sorted(set(branches) | set(joined))]
    m = ModelWrapper(qonnx_make_model(helper.make_graph([*nodes, join], "fork_join", [inp], [out],
                                                         value_info=value_info)))
    for t in ["x", "y", *branches]:
        m.set_tensor_datatype(t, DataType[idt])
    if thresholds is not None:
        m.set_initializer("thr", thresholds.astype(np.float32))
        m.set_tensor_datatype("thr", DataType[idt])
        m.set_tensor_datatype("t1", DataType[types[1]])
    m = m.transform(InsertFIFO(create_shallow_fifos=True)).transform(SpecializeLayers(PART))
    return _generate_hdl(m.transform(GiveUniqueNodeNames()), codegen)


def _generate_hdl(m, codegen):
    """Every node's HDL, each in a folder of its own under `codegen`."""
    from qonnx.custom_op.registry import getCustomOp

    for node in m.graph.node:
        inst = getCustomOp(node)
        d = codegen / node.name
        d.mkdir(parents=True)
        inst.set_nodeattr("code_gen_dir_ipgen", str(d))
        inst.generate_hdl(m, PART, 5.0)
    return m


@pytest.mark.parametrize("channels,pe,length,copies,idt", [
    (4, 2, 6, 2, "INT4"),  # two beats per position and branch, signed
    (6, 3, 5, 3, "UINT3"),  # three branches (AaronNet32++'s stem), 9-bit beats padded to 16
    (2, 2, 4, 2, "INT8"),  # one beat per position
])
def test_fork_then_join_is_bit_exact_at_one_beat_per_cycle(tmp_path, channels, pe, length, copies, idt):
    from qonnx.core.datatype import DataType
    from qonnx.util.basic import gen_finn_dt_tensor

    from finn.util.settings import get_settings

    from compile.finnenv import init_finn
    from compile.rtlsim.sim import Simulator

    init_finn(tmp_path / "finn")  # our RTL ops in the registries
    m = _fork_join(tmp_path / "codegen", channels=channels, pe=pe, length=length, copies=copies, idt=idt)
    ops = [n.op_type for n in m.graph.node]
    assert "DuplicateStreams_rtl" in ops and "StreamingConcat_rtl" in ops, ops
    sim = Simulator.build(m, None, tmp_path / "sim", get_settings().finn_rtllib)
    frames = 4
    np.random.seed(1)
    x = gen_finn_dt_tensor(DataType[idt], (frames, length, channels // pe, pe))
    want = np.concatenate([x.reshape(frames, length, channels)] * copies, axis=-1)
    for rate in (1.0, 0.5):
        res = sim.run(x, ready_prob=rate, valid_prob=rate, seed=3)
        got = res.output.reshape(frames, length, channels * copies)
        assert np.array_equal(got, want), rate
        assert res.extra_out_beats == 0
        if rate == 1.0:  # the join gives one beat per cycle: copies x the input's beats per frame
            assert res.cycles_per_frame() == pytest.approx(length * copies * channels // pe, rel=0.02)


def test_join_widens_each_input_to_its_output_type(tmp_path):
    """Branch 1 thresholded to UINT2: the join zero-extends it to INT4 beside the signed branch 0."""
    from qonnx.core.datatype import DataType
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import gen_finn_dt_tensor

    from finn.util.settings import get_settings

    from compile.finnenv import init_finn
    from compile.rtlsim.sim import Simulator

    channels, pe, length = 4, 2, 5
    init_finn(tmp_path / "finn")
    thr = np.sort(np.random.default_rng(0).integers(-8, 8, (channels, 3)), axis=1)
    m = _fork_join(tmp_path / "codegen", channels=channels, pe=pe, length=length, copies=2, idt="INT4",
                   thresholds=thr)
    join = getCustomOp(m.get_nodes_by_op_type("StreamingConcat_rtl")[0])
    assert [join.get_input_datatype(i).name for i in range(2)] == ["INT4", "UINT2"]
    assert join.get_output_datatype().name == "INT4"
    sim = Simulator.build(m, None, tmp_path / "sim", get_settings().finn_rtllib)
    frames = 3
    np.random.seed(2)
    x = gen_finn_dt_tensor(DataType["INT4"], (frames, length, channels // pe, pe)).reshape(frames, length, channels)
    levels = (x[..., None] >= thr[None, None]).sum(-1)  # FINN's thresholding: thresholds reached
    want = np.concatenate([x, levels], axis=-1)
    res = sim.run(x.reshape(frames, length, channels // pe, pe), ready_prob=0.5, valid_prob=0.5, seed=4)
    assert np.array_equal(res.output.reshape(want.shape), want)


def test_residual_add_of_two_streams_is_ours_and_bit_exact(tmp_path):
    """x + threshold(x): the integer ElementwiseAdd that finn-plus makes HLS off Versal becomes our
    ElementwiseAdd_rtl (operands INT4 and UINT2, sum INT5), bit-exact under back-pressure, a beat a cycle."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.util.basic import gen_finn_dt_tensor, qonnx_make_model

    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.util.settings import get_settings

    from compile.finnenv import init_finn
    from compile.hwops.elementwise_rtl import specialize_elementwise_add
    from compile.rtlsim.sim import Simulator

    channels, pe, length = 4, 2, 6
    init_finn(tmp_path / "finn")
    thr = np.sort(np.random.default_rng(1).integers(-8, 8, (channels, 3)), axis=1)
    dom = "finn.custom_op.fpgadataflow"
    shape = [1, length, channels]
    nodes = [
        helper.make_node("DuplicateStreams", ["x"], ["b0", "b1"], domain=dom, backend="fpgadataflow",
                         NumChannels=channels, PE=pe, NumOutputStreams=2, inputDataType="INT4",
                         numInputVectors=[1, length]),
        helper.make_node("Thresholding", ["b1", "thr"], ["t1"], domain=dom, backend="fpgadataflow",
                         NumChannels=channels, PE=pe, numSteps=3, inputDataType="INT4", weightDataType="INT4",
                         outputDataType="UINT2", numInputVectors=[1, length]),
        helper.make_node("ElementwiseAdd", ["b0", "t1"], ["y"], domain=dom, backend="fpgadataflow",
                         lhs_dtype="INT4", rhs_dtype="UINT2", out_dtype="INT5", lhs_shape=shape, rhs_shape=shape,
                         out_shape=shape, PE=pe, inFIFODepths=[16, 2]),  # b0 waits out the thresholding
    ]
    vi = [helper.make_tensor_value_info(t, TensorProto.FLOAT, shape) for t in ("b0", "b1", "t1")]
    m = ModelWrapper(qonnx_make_model(helper.make_graph(
        nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], value_info=vi)))
    for t, dt in (("x", "INT4"), ("b0", "INT4"), ("b1", "INT4"), ("t1", "UINT2"), ("y", "INT5")):
        m.set_tensor_datatype(t, DataType[dt])
    m.set_initializer("thr", thr.astype(np.float32))
    m.set_tensor_datatype("thr", DataType["INT4"])
    m = m.transform(InsertFIFO(create_shallow_fifos=True)).transform(SpecializeLayers(PART))
    assert "ElementwiseAdd_hls" in [n.op_type for n in m.graph.node]  # finn-plus's choice off Versal
    m = specialize_elementwise_add(m, PART).transform(GiveUniqueNodeNames())
    assert "ElementwiseAdd_rtl" in [n.op_type for n in m.graph.node]
    _generate_hdl(m, tmp_path / "codegen")
    sim = Simulator.build(m, None, tmp_path / "sim", get_settings().finn_rtllib)
    frames = 3
    np.random.seed(5)
    x = gen_finn_dt_tensor(DataType["INT4"], (frames, length, channels // pe, pe)).reshape(frames, length, channels)
    want = x + (x[..., None] >= thr[None, None]).sum(-1)
    for rate in (1.0, 0.5):
        res = sim.run(x.reshape(frames, length, channels // pe, pe), ready_prob=rate, valid_prob=rate, seed=6)
        assert np.array_equal(res.output.reshape(want.shape), want), rate
        if rate == 1.0:
            assert res.cycles_per_frame() == pytest.approx(length * channels // pe, rel=0.02)

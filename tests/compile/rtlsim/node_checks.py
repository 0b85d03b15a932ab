"""What the single-layer RTL tests share: a graph of one RTL node with its HDL generated, and the check every
one makes: the layer streamed through Verilator at full rate and under back-pressure (one verilation,
reused), bit-exact each time, and at full rate within 2% of the cycles FINN's get_exp_cycles expects."""
from __future__ import annotations

FRAMES = 3
RATES = (1.0, 0.5)  # ready_prob = valid_prob
CYCLE_TOLERANCE = 0.02  # measured cycles per frame at full rate vs get_exp_cycles
ZCU104_PART = "xczu7ev-ffvc1156-2-e"


def rtl_node_model(codegen, op_type: str, in_shape: list, out_shape: list, idt: str, **attrs):
    """A graph of one `op_type` node (finn.custom_op.fpgadataflow.rtl) with `attrs`, input and output of
    datatype `idt`, its HDL generated into `codegen` for the ZCU104's part."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import qonnx_make_model

    inp = helper.make_tensor_value_info("inp", TensorProto.FLOAT, in_shape)
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, out_shape)
    node = helper.make_node(op_type, ["inp"], ["out"], name=f"{op_type}_0", domain="finn.custom_op.fpgadataflow.rtl",
                            backend="fpgadataflow", **attrs)
    m = ModelWrapper(qonnx_make_model(helper.make_graph([node], op_type, [inp], [out])))
    m.set_tensor_datatype("inp", DataType[idt])
    m.set_tensor_datatype("out", DataType[idt])
    inst = getCustomOp(m.graph.node[0])
    codegen.mkdir(parents=True)
    inst.set_nodeattr("code_gen_dir_ipgen", str(codegen))
    inst.generate_hdl(m, ZCU104_PART, 5.0)
    return m


def check_at_rates(model, name: str, work_dir, seed: int = 1) -> None:
    from finn.util.settings import get_settings

    from compile.rtlsim.node import check_node

    for rate in RATES:
        c = check_node(model, name, work_dir, get_settings().finn_rtllib, frames=FRAMES, ready_prob=rate,
                       valid_prob=rate, seed=seed)
        assert c.bit_exact, (name, rate, c.mismatches, c.first_mismatch)
        if rate == 1.0:
            assert abs(c.cycles_per_frame - c.expected_cycles) <= CYCLE_TOLERANCE * c.expected_cycles, c

"""ElementwiseAdd_rtl for every FPGA family: finn-plus's RTL elementwise add, with a datapath of ours for
the sum of two integer streams off Versal (residual adds).

finn-plus 1.6.1 specialises an integer ElementwiseAdd to ElementwiseAdd_hls on every part but Versal (its
RTL, finn-rtllib's eltwise, is used there for float paths), so BacalhauNet's residual adds made every
such network HLS-bound: not verilatable here, no bitstream without Vitis HLS. As VVAU_rtl does
(vvau_rtl.py), this keeps the op type ElementwiseAdd_rtl with finn-plus's implementation on Versal and ours
elsewhere (versal_dispatch.py), and after SpecializeLayers turns the ElementwiseAdd_hls nodes we can
implement into it: both operands streams (no constant side), integers, the same shape (no broadcasting).
Ours is hdl/elementwise_rtl.sv in the node's wrapper (template_rtl.py).
"""
from __future__ import annotations

from finn.custom_op.fpgadataflow.rtl.elementwise_binary_rtl import ElementwiseAdd_rtl as FinnElementwiseAdd_rtl
from finn.util.basic import is_versal

from .template_rtl import CLOCK_AND_RESET, Wrapper, output_assign, padded_stream_bits, retype_as_rtl, stream_connections
from .versal_dispatch import FinnOnVersal

#: LUT estimate per output bit of a lane: one adder bit (carry chain)
LUTS_PER_SUM_BIT = 1
#: LUT estimate of the handshake (two ANDs per ready/valid)
LUTS_CONTROL = 3


def unsupported_reason(inst) -> str | None:
    """Why our RTL add cannot implement this ElementwiseAdd node, or None if it can."""
    if inst.get_nodeattr("lhs_style") != "input" or inst.get_nodeattr("rhs_style") != "input":
        return "a constant operand"
    for what, dt in (("lhs", inst.lhs_dtype), ("rhs", inst.rhs_dtype), ("output", inst.out_dtype)):
        if not dt.is_integer() or dt.name == "BIPOLAR":
            return f"{what} datatype {dt.name}"
    if list(inst.lhs_shape) != list(inst.rhs_shape):
        return f"broadcasting ({list(inst.lhs_shape)} + {list(inst.rhs_shape)})"
    return None


def specialize_elementwise_add(model, fpgapart: str, requested: str | None = None):
    """After finn-plus's SpecializeLayers: ElementwiseAdd_hls nodes it made on a non-Versal part become
    ElementwiseAdd_rtl (ours) where we implement them, unless "hls" was requested."""
    from qonnx.custom_op.registry import getCustomOp

    if is_versal(fpgapart) or requested == "hls":
        return model
    for node in model.graph.node:
        if node.op_type != "ElementwiseAdd_hls" or unsupported_reason(getCustomOp(node)) is not None:
            continue
        retype_as_rtl(node, "ElementwiseAdd_rtl")
    return model


class ElementwiseAdd_rtl(FinnOnVersal, FinnElementwiseAdd_rtl):
    """finn-plus's ElementwiseAdd_rtl, with our datapath (hdl/elementwise_rtl.sv) for two integer streams off
    Versal."""

    FINN = FinnElementwiseAdd_rtl
    CORES = ("elementwise_rtl.sv",)

    def wrapper(self):
        reason = unsupported_reason(self)
        if reason is not None:
            raise ValueError(f"{self.onnx_node.name}: our ElementwiseAdd_rtl does not implement {reason}; "
                             "specialise it to ElementwiseAdd_hls (needs Vitis HLS)")
        pe = self.get_nodeattr("PE")
        lhs, rhs, out = self.lhs_dtype, self.rhs_dtype, self.out_dtype
        return Wrapper(
            inputs=[("in0_V", self.get_instream_width_padded(0)), ("in1_V", self.get_instream_width_padded(1))],
            outputs=[("out0_V", padded_stream_bits(pe * out.bitwidth()))], core="elementwise_rtl",
            parameters={"PE": pe, "LHS_BITS": lhs.bitwidth(), "LHS_SIGNED": int(lhs.signed()),
                        "RHS_BITS": rhs.bitwidth(), "RHS_SIGNED": int(rhs.signed()), "OUT_BITS": out.bitwidth()},
            connections={**CLOCK_AND_RESET,
                         **stream_connections("lhs", "in0_V", f"in0_V_TDATA[{pe * lhs.bitwidth()}-1:0]"),
                         **stream_connections("rhs", "in1_V", f"in1_V_TDATA[{pe * rhs.bitwidth()}-1:0]"),
                         **stream_connections("out", "out0_V", "odata")},
            before=[f"\twire [{pe * out.bitwidth()}-1:0]  odata;"], after=[output_assign(pe * out.bitwidth())])

    def generic_lut_estimation(self, fpgapart):
        return LUTS_PER_SUM_BIT * self.get_nodeattr("PE") * self.out_dtype.bitwidth() + LUTS_CONTROL

"""ElementwiseAdd_rtl for every FPGA family: finn-plus's RTL elementwise add, with a datapath of ours for
the sum of two integer streams off Versal (residual adds).

finn-plus 1.6.1 specialises an integer ElementwiseAdd to ElementwiseAdd_hls on every part but Versal (its
RTL, finn-rtllib's eltwise, is used there for float paths), so BacalhauNet's residual adds made every
such network HLS-bound: not verilatable here, no bitstream without Vitis HLS. As VVAU_rtl does
(vvau_rtl.py), this keeps the op type ElementwiseAdd_rtl, registers a subclass of finn-plus's class under
it, and after SpecializeLayers turns the ElementwiseAdd_hls nodes we can implement into it: both operands
streams (no constant side), integers, the same shape (no broadcasting). generate_hdl then fills
hdl/stream_add_template_wrapper.v around hdl/stream_add.sv and records `rtl_variant` = generic, which the
file list and the IP integrator commands follow; on Versal everything stays finn-plus's.
"""
from __future__ import annotations

from finn.custom_op.fpgadataflow.elementwise_binary import ElementwiseAdd
from finn.custom_op.fpgadataflow.rtl.elementwise_binary_rtl import ElementwiseAdd_rtl as FinnElementwiseAdd_rtl
from finn.util.basic import is_versal

from .template_rtl import HDL_DIR, TemplateRTL, output_stream_values, retype_as_rtl

VARIANT_ATTR = "rtl_variant"  # which datapath generate_hdl produced ("" before code generation)
VARIANT_FINN = "finn"
VARIANT_GENERIC = "generic"

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


class ElementwiseAdd_rtl(TemplateRTL, FinnElementwiseAdd_rtl):
    """finn-plus's ElementwiseAdd_rtl, with our datapath (hdl/stream_add.sv) for two integer streams off
    Versal."""

    CORE = "stream_add.sv"
    WRAPPER_TEMPLATE = "stream_add_template_wrapper.v"

    def get_nodeattr_types(self):
        attrs = FinnElementwiseAdd_rtl.get_nodeattr_types(self)
        attrs[VARIANT_ATTR] = ("s", False, "", {"", VARIANT_FINN, VARIANT_GENERIC})
        return attrs

    def _generic(self) -> bool:
        return self.get_nodeattr(VARIANT_ATTR) == VARIANT_GENERIC

    def get_template_values(self) -> dict:
        reason = unsupported_reason(self)
        if reason is not None:
            raise ValueError(f"{self.onnx_node.name}: our ElementwiseAdd_rtl does not implement {reason}; "
                             "specialise it to ElementwiseAdd_hls (needs Vitis HLS)")
        pe = self.get_nodeattr("PE")
        lhs, rhs, out = self.lhs_dtype, self.rhs_dtype, self.out_dtype
        return {
            "TOP_MODULE_NAME": self.get_verilog_top_module_name(),
            "PE": pe,
            "LHS_BITS": lhs.bitwidth(), "LHS_SIGNED": int(lhs.signed()),
            "RHS_BITS": rhs.bitwidth(), "RHS_SIGNED": int(rhs.signed()),
            "OUT_BITS": out.bitwidth(),
            "IN0_STREAM_BITS": self.get_instream_width_padded(0),
            "IN1_STREAM_BITS": self.get_instream_width_padded(1),
            **output_stream_values(pe * out.bitwidth()),
        }

    def generate_hdl(self, model, fpgapart, clk):
        if is_versal(fpgapart):
            self.set_nodeattr(VARIANT_ATTR, VARIANT_FINN)
            return FinnElementwiseAdd_rtl.generate_hdl(self, model, fpgapart, clk)
        self.set_nodeattr(VARIANT_ATTR, VARIANT_GENERIC)
        return TemplateRTL.generate_hdl(self, model, fpgapart, clk)

    def get_rtl_file_list(self, abspath=False):
        if not self._generic():
            return FinnElementwiseAdd_rtl.get_rtl_file_list(self, abspath)
        return TemplateRTL.get_rtl_file_list(self, abspath)

    def get_verilog_paths(self):
        if not self._generic():
            return FinnElementwiseAdd_rtl.get_verilog_paths(self)
        return [self.get_nodeattr("code_gen_dir_ipgen"), str(HDL_DIR)]

    def code_generation_ipi(self):
        if not self._generic():
            return FinnElementwiseAdd_rtl.code_generation_ipi(self)
        return TemplateRTL.code_generation_ipi(self)

    def execute_node(self, context, graph):
        if self.get_nodeattr("exec_mode") == "rtlsim":
            return FinnElementwiseAdd_rtl.execute_node(self, context, graph)
        return ElementwiseAdd.execute_node(self, context, graph)

    def lut_estimation(self, fpgapart):
        if is_versal(fpgapart):
            return FinnElementwiseAdd_rtl.lut_estimation(self, fpgapart)
        return LUTS_PER_SUM_BIT * self.get_nodeattr("PE") * self.out_dtype.bitwidth() + LUTS_CONTROL

    def bram_estimation(self, fpgapart):
        return FinnElementwiseAdd_rtl.bram_estimation(self, fpgapart) if is_versal(fpgapart) else 0

    def uram_estimation(self, fpgapart):
        return FinnElementwiseAdd_rtl.uram_estimation(self, fpgapart) if is_versal(fpgapart) else 0

    def dsp_estimation(self, fpgapart):
        return FinnElementwiseAdd_rtl.dsp_estimation(self, fpgapart) if is_versal(fpgapart) else 0

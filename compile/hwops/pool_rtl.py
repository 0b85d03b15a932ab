"""Pool_rtl: FINN's Pool HW op (Function MaxPool) as an RTL backend, from hdl/pool_rtl.sv.

finn-plus 1.6.1 has no RTL implementation of Pool, only Pool_hls, whose RTL exists only after Vitis
HLS synthesised it. Without an RTL Pool no network with MaxPool can be verilated (compile/rtlsim/)
and every bitstream needs Vitis HLS for it. This backend fills in finn-plus's RTL template wrapper
(hdl/pool_rtl_template_wrapper.v) in the node's code generation folder; the core (hdl/pool_rtl.sv) is
shared by every Pool_rtl node from where this package keeps it, as finn-plus's own RTL ops share
finn-rtllib's files (one module definition in a stitched design, for Vivado and Verilator alike).

Python execution is the generic Pool's (max over the kernel window), as for finn-plus's other
backends in cppsim mode; in rtlsim mode, finn-plus's RTLBackend simulates the generated RTL.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from qonnx.util.basic import roundup_to_integer_multiple

from finn.custom_op.fpgadataflow.pool import Pool
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

HDL_DIR = Path(__file__).resolve().parent / "hdl"
CORE = "pool_rtl.sv"
WRAPPER_TEMPLATE = "pool_rtl_template_wrapper.v"
SUPPORTED_FUNCTIONS = ("MaxPool",)
AXI_BYTE = 8  # AXI-stream TDATA is padded to whole bytes

#: LUT estimate per element bit: one comparator (carry chain) and one 2:1 select of the running max
LUTS_PER_ELEM_BIT = 2
#: LUT estimate of the kernel position counter and the handshake logic
LUTS_CONTROL = 8


class UnsupportedPool(ValueError):
    """A Pool node this RTL backend cannot implement (its Function, or a non-integer input)."""


def rtl_supports(function: str, idt) -> bool:
    """Whether Pool_rtl implements a Pool with this Function and input datatype."""
    return function in SUPPORTED_FUNCTIONS and idt.is_integer()


class Pool_rtl(Pool, RTLBackend):
    """FINN's Pool with Function MaxPool in RTL (our own: finn-plus ships Pool only as HLS)."""

    def get_nodeattr_types(self):
        attrs = {}
        attrs.update(Pool.get_nodeattr_types(self))
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs

    def check_supported(self) -> None:
        fxn, idt = self.get_nodeattr("Function"), self.get_input_datatype()
        if not rtl_supports(fxn, idt):
            raise UnsupportedPool(
                f"{self.onnx_node.name}: Pool_rtl implements Function {'/'.join(SUPPORTED_FUNCTIONS)} on integer "
                f"inputs only, not {fxn} on {idt.name}; specialise this node to Pool_hls "
                "(preferred_impl_style 'hls', which needs Vitis HLS)")

    def kernel_positions(self) -> int:
        return int(np.prod(self.get_nodeattr("KernelSize")))

    def get_template_values(self) -> dict:
        self.check_supported()
        idt = self.get_input_datatype()
        pe, bits = self.get_nodeattr("PE"), idt.bitwidth()
        data_bits = pe * bits
        out_bits = int(roundup_to_integer_multiple(data_bits, AXI_BYTE))
        pad = out_bits - data_bits
        return {
            "TOP_MODULE_NAME": self.get_verilog_top_module_name(),
            "PE": pe,
            "ELEM_BITS": bits,
            "SIGNED": int(idt.signed()),
            "K": self.kernel_positions(),
            "IN_STREAM_BITS": int(roundup_to_integer_multiple(data_bits, AXI_BYTE)),
            "OUT_STREAM_BITS": out_bits,
            "OUT_TDATA": f"{{{{{pad}{{1'b0}}}}, odata}}" if pad else "odata",
        }

    def generate_hdl(self, model, fpgapart, clk):
        """The node's wrapper (from our template), in code_gen_dir_ipgen."""
        values = self.get_template_values()
        text = (HDL_DIR / WRAPPER_TEMPLATE).read_text()
        for key, val in values.items():
            text = text.replace(f"${key}$", str(val))
        # keep the module name: later renames (MakeZynqProject's GiveUniqueNodeNames) must find it
        self.set_nodeattr("gen_top_module", values["TOP_MODULE_NAME"])
        code_gen_dir = Path(self.get_nodeattr("code_gen_dir_ipgen"))
        (code_gen_dir / f"{values['TOP_MODULE_NAME']}.v").write_text(text)
        # the IP generation and stitching transformations look for these
        self.set_nodeattr("ipgen_path", str(code_gen_dir))
        self.set_nodeattr("ip_path", str(code_gen_dir))

    def get_rtl_file_list(self, abspath=False):
        wrapper = self.get_nodeattr("gen_top_module") + ".v"
        if not abspath:
            return [CORE, wrapper]
        return [str(HDL_DIR / CORE), str(Path(self.get_nodeattr("code_gen_dir_ipgen")) / wrapper)]

    def get_verilog_paths(self):
        return [self.get_nodeattr("code_gen_dir_ipgen"), str(HDL_DIR)]

    def code_generation_ipi(self):
        """Tcl for Vivado's block design: add the sources, instantiate the wrapper as a module."""
        cmd = [f"add_files -norecurse {f}" for f in self.get_rtl_file_list(abspath=True)]
        cmd.append(f"create_bd_cell -type module -reference {self.get_nodeattr('gen_top_module')} "
                   f"{self.onnx_node.name}")
        return cmd

    def execute_node(self, context, graph):
        if self.get_nodeattr("exec_mode") == "rtlsim":
            RTLBackend.execute_node(self, context, graph)
        else:
            Pool.execute_node(self, context, graph)

    def lut_estimation(self, fpgapart):
        bits = self.get_nodeattr("PE") * self.get_input_datatype().bitwidth()
        return LUTS_PER_ELEM_BIT * bits + LUTS_CONTROL

    def bram_estimation(self, fpgapart):
        return 0  # registers only: one running maximum and one output beat

    def uram_estimation(self, fpgapart):
        return 0

    def dsp_estimation(self, fpgapart):
        return 0

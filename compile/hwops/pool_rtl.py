"""Pool_rtl: FINN's Pool HW op (Function MaxPool) as an RTL backend, from hdl/global_max_pool.sv.

finn-plus 1.6.1 has no RTL implementation of Pool, only Pool_hls, whose RTL exists only after Vitis
HLS synthesised it. Without an RTL Pool no network with MaxPool can be verilated (compile/rtlsim/)
and every bitstream needs Vitis HLS for it. A max over each window the sliding window generator emits is
a global max pool of that window: this backend writes the node's wrapper (template_rtl.py) around
hdl/global_max_pool.sv (global_max_pool.py's core, one channel fold per window), which every such node
shares from where this package keeps it.

Python execution is the generic Pool's (max over the kernel window), as for finn-plus's other
backends in cppsim mode; in rtlsim mode, finn-plus's RTLBackend simulates the generated RTL.
"""
from __future__ import annotations

import numpy as np

from finn.custom_op.fpgadataflow.pool import Pool
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

from .global_max_pool import StreamingGlobalMaxPool_rtl
from .template_rtl import GenericExecRTL, RegistersOnly, TemplateRTL, passthrough_wrapper

SUPPORTED_FUNCTIONS = ("MaxPool",)

#: LUT estimate per element bit: a comparator, the 2:1 select of the running max and the output queue's
#: select, as Yosys synthesizes the core for UltraScale+ (scripts/synth_rtl_layers.py, docs/results.md)
LUTS_PER_ELEM_BIT = 3
#: LUT estimate of the kernel position counter and the handshake logic
LUTS_CONTROL = 10


class UnsupportedPool(ValueError):
    """A Pool node this RTL backend cannot implement (its Function, or a non-integer input)."""


def rtl_supports(function: str, idt) -> bool:
    """Whether Pool_rtl implements a Pool with this Function and input datatype."""
    return function in SUPPORTED_FUNCTIONS and idt.is_integer()


class Pool_rtl(GenericExecRTL, RegistersOnly, TemplateRTL, Pool, RTLBackend):
    """FINN's Pool with Function MaxPool in RTL (our own: finn-plus ships Pool only as HLS); registers only:
    one running maximum and one output beat."""

    GENERIC = Pool
    CORES = StreamingGlobalMaxPool_rtl.CORES

    def check_supported(self) -> None:
        fxn, idt = self.get_nodeattr("Function"), self.get_input_datatype()
        if not rtl_supports(fxn, idt):
            raise UnsupportedPool(
                f"{self.onnx_node.name}: Pool_rtl implements Function {'/'.join(SUPPORTED_FUNCTIONS)} on integer "
                f"inputs only, not {fxn} on {idt.name}; specialise this node to Pool_hls "
                "(preferred_impl_style 'hls', which needs Vitis HLS)")

    def kernel_positions(self) -> int:
        return int(np.prod(self.get_nodeattr("KernelSize")))

    def wrapper(self):
        self.check_supported()
        idt = self.get_input_datatype()
        pe, bits = self.get_nodeattr("PE"), idt.bitwidth()
        return passthrough_wrapper("global_max_pool", {"PE": pe, "ELEM_BITS": bits, "SIGNED": int(idt.signed()),
                                                       "FOLDS": 1, "POSITIONS": self.kernel_positions()}, pe * bits)

    def lut_estimation(self, fpgapart):
        bits = self.get_nodeattr("PE") * self.get_input_datatype().bitwidth()
        return LUTS_PER_ELEM_BIT * bits + LUTS_CONTROL

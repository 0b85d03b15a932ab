"""DuplicateStreams_rtl: FINN's stream fork as an RTL backend, from hdl/stream_fork.sv.

finn-plus 1.6.1 ships DuplicateStreams only as HLS, so a graph with parallel branches (AaronNet32++'s
three-branch stem, any residual block) could neither be verilated here (compile/rtlsim/) nor built without
Vitis HLS. The wrapper is generated per node (its port count is the node's output count); the core is shared
from where this package keeps it (template_rtl.py). Python execution is finn-plus's generic op's.
"""
from __future__ import annotations

from finn.custom_op.fpgadataflow.duplicatestreams import DuplicateStreams
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

from .template_rtl import CLOCK_AND_RESET, GenericExecRTL, RegistersOnly, TemplateRTL, Wrapper, stream_connections

#: LUT estimate of the fork's handshake: one `taken` register, its next-state logic and its share of the
#: input ready per output, as Yosys synthesizes the core for UltraScale+ (scripts/synth_rtl_layers.py, docs/results.md)
LUTS_PER_FORK_OUTPUT = 4


class DuplicateStreams_rtl(GenericExecRTL, RegistersOnly, TemplateRTL, DuplicateStreams, RTLBackend):
    """FINN's DuplicateStreams in RTL (our own: finn-plus ships it only as HLS)."""

    GENERIC = DuplicateStreams
    CORES = ("stream_fork.sv",)

    def wrapper(self):
        n = self.get_num_output_streams()
        bits = self.get_instream_width_padded(0)
        outs = [f"out{i}_V" for i in range(n)]
        return Wrapper(
            inputs=[("in0_V", bits)], outputs=[(o, bits) for o in outs],
            core="stream_fork", parameters={"WIDTH": bits, "N": n},
            connections={**CLOCK_AND_RESET, **stream_connections("in", "in0_V"),
                         "out_tdata": "odata", "out_tvalid": "ovalid", "out_tready": "oready"},
            before=[f"\twire [{n}-1:0][{bits}-1:0]  odata;", f"\twire [{n}-1:0]  ovalid;",
                    f"\twire [{n}-1:0]  oready;"],
            after=[f"\tassign\t{o}_TDATA = odata[{i}];\n\tassign\t{o}_TVALID = ovalid[{i}];\n"
                   f"\tassign\toready[{i}] = {o}_TREADY;" for i, o in enumerate(outs)])

    def lut_estimation(self, fpgapart):
        return LUTS_PER_FORK_OUTPUT * self.get_num_output_streams()

"""DuplicateStreams_rtl and StreamingConcat_rtl: FINN's stream fork and channel-wise join as RTL backends,
from hdl/stream_fork.sv and hdl/stream_concat.sv.

finn-plus 1.6.1 ships both only as HLS, so a graph with parallel branches (AaronNet32++'s three-branch
stem, any residual block) could neither be verilated here (compile/rtlsim/) nor built without Vitis HLS.
The wrappers are generated per node (their port count is the node's stream count); the cores are shared
from where this package keeps them (template_rtl.py). Python execution is finn-plus's generic op's.
"""
from __future__ import annotations

import math

from finn.custom_op.fpgadataflow.concat import StreamingConcat
from finn.custom_op.fpgadataflow.duplicatestreams import DuplicateStreams
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

from .template_rtl import GenericExecRTL, RegistersOnly, TemplateRTL, output_stream_values, padded_stream_bits

#: LUT estimate of the fork's handshake: one `taken` register, its next-state logic and its share of the
#: input ready per output, as Yosys synthesizes the core for UltraScale+ (scripts/synth_rtl_layers.py, docs/results.md)
LUTS_PER_FORK_OUTPUT = 4
#: inputs one LUT6 multiplexes per output bit (a 4:1 multiplexer)
MUX_INPUTS_PER_LUT = 4
#: LUT estimate of the join's input and beat counters and the handshake logic
LUTS_JOIN_CONTROL = 12
#: LUT estimate of the zip join: wires and an AND of the valids, as Yosys synthesizes the core for UltraScale+ (scripts/synth_rtl_layers.py, docs/results.md)
LUTS_ZIP = 3


def _stream_ports(inputs: list[tuple[str, int]], outputs: list[tuple[str, int]]) -> str:
    """ANSI port declarations, one per line (as compile/rtlsim/top.py reads them)."""
    lines = []
    for name, bits in inputs:
        lines += [f"\toutput\t{name}_TREADY,", f"\tinput\t{name}_TVALID,", f"\tinput\t[{bits}-1:0]  {name}_TDATA,"]
    for name, bits in outputs:
        lines += [f"\tinput\t{name}_TREADY,", f"\toutput\t{name}_TVALID,", f"\toutput\t[{bits}-1:0]  {name}_TDATA,"]
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join(lines)


class DuplicateStreams_rtl(GenericExecRTL, RegistersOnly, TemplateRTL, DuplicateStreams, RTLBackend):
    """FINN's DuplicateStreams in RTL (our own: finn-plus ships it only as HLS)."""

    GENERIC = DuplicateStreams
    CORE = "stream_fork.sv"
    WRAPPER_TEMPLATE = "stream_fork_template_wrapper.v"

    def get_template_values(self) -> dict:
        n = self.get_num_output_streams()
        bits = self.get_instream_width_padded(0)
        outs = [f"out{i}_V" for i in range(n)]
        body = "\n".join(
            f"\tassign\t{o}_TDATA = odata[{i}];\n\tassign\t{o}_TVALID = ovalid[{i}];\n\tassign\toready[{i}] = {o}_TREADY;"
            for i, o in enumerate(outs))
        return {
            "TOP_MODULE_NAME": self.get_verilog_top_module_name(),
            "N": n,
            "STREAM_BITS": bits,
            "BUSIF": ":".join(["in0_V", *outs]),
            "PORTS": _stream_ports([("in0_V", bits)], [(o, bits) for o in outs]),
            "BODY": body,
        }

    def lut_estimation(self, fpgapart):
        return LUTS_PER_FORK_OUTPUT * self.get_num_output_streams()


class StreamingConcat_rtl(GenericExecRTL, RegistersOnly, TemplateRTL, StreamingConcat, RTLBackend):
    """FINN's StreamingConcat in RTL (our own: finn-plus ships it only as HLS).

    FINN's concat reads its inputs one after the other, SIMD elements a beat, so joining N streams takes at
    least N beats per position. With inputs of equal width, SIMD = the sum of their channels selects a
    *zip* instead (ours, `is_zip`): each input delivers its whole position in one beat and the output beat
    holds them side by side, one position per cycle (the output phases of an unrolled depthwise conv,
    compile/transforms/unrolled_depthwise.py)."""

    GENERIC = StreamingConcat
    CORE = "stream_concat.sv"
    WRAPPER_TEMPLATE = "stream_concat_template_wrapper.v"

    def is_zip(self) -> bool:
        channels = self.get_nodeattr("ChannelsPerStream")
        return len(channels) > 1 and len(set(channels)) == 1 and self.get_nodeattr("SIMD") == sum(channels)

    def get_folded_input_shape(self, ind=0):
        if not self.is_zip():
            return super().get_folded_input_shape(ind)
        return tuple(list(self.get_nodeattr("numInputVectors")) + [1, self.get_nodeattr("ChannelsPerStream")[ind]])

    def get_instream_width(self, ind=0):
        if not self.is_zip():
            return super().get_instream_width(ind)
        return self.get_input_datatype(ind).bitwidth() * self.get_nodeattr("ChannelsPerStream")[ind]

    def get_template_values(self) -> dict:
        zip_ = self.is_zip()
        simd = self.get_nodeattr("ChannelsPerStream")[0] if zip_ else self.get_nodeattr("SIMD")  # per input beat
        odt = self.get_output_datatype()
        obits = odt.bitwidth()
        n = self.get_n_inputs()
        ins = [f"in{i}_V" for i in range(n)]
        body = []
        for i, name in enumerate(ins):
            idt = self.get_input_datatype(i)
            if not (idt.is_integer() and odt.is_integer()):
                raise ValueError(f"{self.onnx_node.name}: StreamingConcat_rtl joins integer streams, not "
                                 f"{idt.name}; specialise it to StreamingConcat_hls (needs Vitis HLS)")
            ibits = idt.bitwidth()
            elems = []
            for j in reversed(range(simd)):  # element 0 in the lowest bits
                e = f"{name}_TDATA[{j * ibits}+:{ibits}]"
                if obits > ibits:
                    fill = f"{name}_TDATA[{j * ibits + ibits - 1}]" if idt.signed() else "1'b0"
                    e = f"{{{{{obits - ibits}{{{fill}}}}}, {e}}}"
                elems.append(e)
            body.append(f"\tassign\tidata[{i}] = {{{', '.join(elems)}}};\n\tassign\tivalid[{i}] = {name}_TVALID;"
                        f"\n\tassign\t{name}_TREADY = iready[{i}];")
        in_beat = simd * obits
        beat = n * in_beat if zip_ else in_beat
        if zip_:
            core = f"stream_zip #(.WIDTH({in_beat}), .N({n}))"
        else:  # input 0's count in the lowest 32 bits
            beats = "{" + ", ".join(f"32'd{c // simd}" for c in reversed(self.get_nodeattr("ChannelsPerStream"))) + "}"
            core = f"stream_concat #(.WIDTH({in_beat}), .N({n}), .BEATS({beats}))"
        return {
            "TOP_MODULE_NAME": self.get_verilog_top_module_name(),
            "N": n,
            "IN_BEAT_BITS": in_beat,
            "BEAT_BITS": beat,
            "CORE": core,
            "BUSIF": ":".join([*ins, "out0_V"]),
            "PORTS": _stream_ports([(name, self.get_instream_width_padded(i)) for i, name in enumerate(ins)],
                                   [("out0_V", padded_stream_bits(beat))]),
            "BODY": "\n".join(body),
            **output_stream_values(beat),
        }

    def lut_estimation(self, fpgapart):
        if self.is_zip():
            return LUTS_ZIP
        beat = self.get_nodeattr("SIMD") * self.get_output_datatype().bitwidth()
        return beat * math.ceil(self.get_n_inputs() / MUX_INPUTS_PER_LUT) + LUTS_JOIN_CONTROL

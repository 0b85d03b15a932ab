"""StreamingConcat_rtl: FINN's channel-wise join as an RTL backend, from hdl/stream_concat.sv.

finn-plus 1.6.1 ships StreamingConcat only as HLS, so a graph with parallel branches (AaronNet32++'s
three-branch stem, any residual block) could neither be verilated here (compile/rtlsim/) nor built without
Vitis HLS. The wrapper is generated per node (its port count is the node's input count, and it widens each
input's elements to the output's element width); the core is shared from where this package keeps it
(template_rtl.py). Python execution is finn-plus's generic op's.
"""
from __future__ import annotations

import math

from finn.custom_op.fpgadataflow.concat import StreamingConcat
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

from .template_rtl import (CLOCK_AND_RESET, GenericExecRTL, RegistersOnly, TemplateRTL, Wrapper, output_assign,
                           padded_stream_bits, stream_connections)

#: inputs one LUT6 multiplexes per output bit (a 4:1 multiplexer)
MUX_INPUTS_PER_LUT = 4
#: LUT estimate of the join's input and beat counters and the handshake logic
LUTS_JOIN_CONTROL = 12
#: LUT estimate of the zip join: wires and an AND of the valids, as Yosys synthesizes the core for UltraScale+
#: (scripts/synth_rtl_layers.py, docs/results.md)
LUTS_ZIP = 3


class StreamingConcat_rtl(GenericExecRTL, RegistersOnly, TemplateRTL, StreamingConcat, RTLBackend):
    """FINN's StreamingConcat in RTL (our own: finn-plus ships it only as HLS).

    FINN's concat reads its inputs one after the other, SIMD elements a beat, so joining N streams takes at
    least N beats per position. With inputs of equal width, SIMD = the sum of their channels selects a
    *zip* instead (ours, `is_zip`): each input delivers its whole position in one beat and the output beat
    holds them side by side, one position per cycle (the output phases of an unrolled depthwise conv,
    compile/transforms/unrolled_depthwise.py)."""

    GENERIC = StreamingConcat
    CORES = ("stream_concat.sv",)

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

    def _widened(self, i: int, name: str, simd: int, obits: int) -> str:
        """Input i's beat of `simd` elements, each sign- or zero-extended to `obits` bits, element 0 lowest."""
        idt, odt = self.get_input_datatype(i), self.get_output_datatype()
        if not (idt.is_integer() and odt.is_integer()):
            raise ValueError(f"{self.onnx_node.name}: StreamingConcat_rtl joins integer streams, not "
                             f"{idt.name}; specialise it to StreamingConcat_hls (needs Vitis HLS)")
        ibits = idt.bitwidth()
        elems = []
        for j in reversed(range(simd)):
            e = f"{name}_TDATA[{j * ibits}+:{ibits}]"
            if obits > ibits:
                fill = f"{name}_TDATA[{j * ibits + ibits - 1}]" if idt.signed() else "1'b0"
                e = f"{{{{{obits - ibits}{{{fill}}}}}, {e}}}"
            elems.append(e)
        return f"{{{', '.join(elems)}}}"

    def wrapper(self):
        zip_ = self.is_zip()
        simd = self.get_nodeattr("ChannelsPerStream")[0] if zip_ else self.get_nodeattr("SIMD")  # per input beat
        obits = self.get_output_datatype().bitwidth()
        n = self.get_n_inputs()
        ins = [f"in{i}_V" for i in range(n)]
        in_beat = simd * obits
        beat = n * in_beat if zip_ else in_beat
        if zip_:
            core, params = "stream_concat_zip", {"WIDTH": in_beat, "N": n}
        else:  # input 0's count in the lowest 32 bits
            beats = "{" + ", ".join(f"32'd{c // simd}" for c in reversed(self.get_nodeattr("ChannelsPerStream"))) + "}"
            core, params = "stream_concat", {"WIDTH": in_beat, "N": n, "BEATS": beats}
        return Wrapper(
            inputs=[(name, self.get_instream_width_padded(i)) for i, name in enumerate(ins)],
            outputs=[("out0_V", padded_stream_bits(beat))], core=core, parameters=params,
            connections={**CLOCK_AND_RESET, "in_tdata": "idata", "in_tvalid": "ivalid", "in_tready": "iready",
                         **stream_connections("out", "out0_V", "odata")},
            before=[f"\twire [{n}-1:0][{in_beat}-1:0]  idata;", f"\twire [{n}-1:0]  ivalid;",
                    f"\twire [{n}-1:0]  iready;", f"\twire [{beat}-1:0]  odata;", ""]
            + [f"\tassign\tidata[{i}] = {self._widened(i, name, simd, obits)};\n\tassign\tivalid[{i}] = {name}_TVALID;"
               f"\n\tassign\t{name}_TREADY = iready[{i}];" for i, name in enumerate(ins)],
            after=[output_assign(beat)])

    def lut_estimation(self, fpgapart):
        if self.is_zip():
            return LUTS_ZIP
        beat = self.get_nodeattr("SIMD") * self.get_output_datatype().bitwidth()
        return beat * math.ceil(self.get_n_inputs() / MUX_INPUTS_PER_LUT) + LUTS_JOIN_CONTROL

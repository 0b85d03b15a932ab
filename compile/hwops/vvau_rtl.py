"""VVAU_rtl for every FPGA family: finn-plus's RTL VVAU with a datapath of ours where it has none.

finn-plus 1.6.1's VVAU_rtl (depthwise convolution) instantiates finn-rtllib's mvu_vvu_axi.sv, whose
VVU mode needs Versal's DSP58; SpecializeLayers therefore picks VVAU_hls on UltraScale+ (ZCU104),
whose RTL exists only after Vitis HLS. Without it no network with depthwise convolutions can be
verilated (compile/rtlsim/) and every bitstream needs Vitis HLS.

This module keeps the op type VVAU_rtl (finn-plus keys weight file layout, memstream generation,
folding and IODMA insertion on that name), with finn-plus's implementation on Versal parts and ours
elsewhere (versal_dispatch.py): hdl/vvau_rtl.sv, a behavioural multiply-accumulate that Vivado maps to
DSP48E2 slices or LUTs, in the node's wrapper (template_rtl.py). Weights come, as for finn-plus's
VVAU_rtl, from the node's memstream (mem_mode internal_decoupled: memblock.dat, wired by VVAU's own
code_generation_ipi), from the in1_V stream (external), or from a ROM in the wrapper
(internal_embedded: hdl/vvau_rtl_weight_rom.sv, the same memblock.dat layout).

Only noActivation=1 is implemented (thresholds in a separate Thresholding layer, as our builds
make them): a node with embedded thresholds, binary/bipolar data or non-integer data stays VVAU_hls.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from qonnx.util.basic import roundup_to_integer_multiple

from finn.custom_op.fpgadataflow.rtl.vectorvectoractivation_rtl import VVAU_rtl as FinnVVAU_rtl
from finn.custom_op.fpgadataflow.vectorvectoractivation import VVAU
from finn.util.basic import is_versal
from finn.util.data_packing import pack_innermost_dim_as_hex_string

from .lutram import in_lutram, lutram_luts
from .template_rtl import Wrapper, output_assign, padded_stream_bits, retype_as_rtl, stream_connections
from .versal_dispatch import FinnOnVersal

WEIGHT_FILE = "memblock.dat"  # FINN's name for the VVAU_rtl weight stream (make_weight_file)

#: resType "auto": products of at least this many operand bits go to DSP slices, smaller ones to LUTs
AUTO_DSP_MIN_PRODUCT_BITS = 16

# First-order LUT model (FINN-R's multiplier term, as finn-plus's VVAU_hls estimate uses it)
LUTS_CONTROL = 40  # beat counter, credits, queue pointers, handshakes


class UnsupportedVVAU(ValueError):
    """A VVAU node our RTL datapath cannot implement."""


def unsupported_reason(inst) -> str | None:
    """Why our RTL VVAU cannot implement this VVAU node, or None if it can."""
    if inst.get_nodeattr("noActivation") != 1:
        return "embedded thresholds (noActivation=0)"
    if inst.get_nodeattr("binaryXnorMode") == 1:
        return "binaryXnorMode"
    for what, dt in (("input", inst.get_input_datatype(0)), ("weight", inst.get_input_datatype(1))):
        if not dt.is_integer() or dt.name == "BIPOLAR":  # BIPOLAR: +-1 stored as 0/1
            return f"{what} datatype {dt.name}"
    return None


def specialize_vvau(model, fpgapart: str, requested: str | None = None):
    """After finn-plus's SpecializeLayers: turn the VVAU_hls nodes it made on a non-Versal part into
    VVAU_rtl (ours) in place, unless "hls" was requested. Requested "rtl" on a node we cannot
    implement raises. Returns the model (node names keep the old op type until renamed)."""
    from qonnx.custom_op.registry import getCustomOp

    if is_versal(fpgapart) or requested == "hls":
        return model
    for node in model.graph.node:
        if node.op_type != "VVAU_hls":
            continue
        reason = unsupported_reason(getCustomOp(node))
        if reason is not None:
            if requested == "rtl":
                raise UnsupportedVVAU(f"{node.name}: the RTL VVAU for {fpgapart} does not implement {reason}; "
                                      "set the impl style of VVAU to 'hls' (needs Vitis HLS)")
            continue
        retype_as_rtl(node, "VVAU_rtl")
    return model


class VVAU_rtl(FinnOnVersal, FinnVVAU_rtl):
    """finn-plus's VVAU_rtl, with our datapath (hdl/vvau_rtl.sv) on parts without DSP58."""

    FINN = FinnVVAU_rtl
    CORES = ("vvau_rtl.sv",)
    ROM = "vvau_rtl_weight_rom.sv"

    def use_dsp(self) -> bool:
        res = self.get_nodeattr("resType")
        if res != "auto":
            return res == "dsp"
        bits = self.get_input_datatype(0).bitwidth() + self.get_input_datatype(1).bitwidth()
        return bits >= AUTO_DSP_MIN_PRODUCT_BITS

    def check_supported(self) -> None:
        reason = unsupported_reason(self)
        if reason is not None:
            raise UnsupportedVVAU(f"{self.onnx_node.name}: the RTL VVAU for non-Versal parts does not implement "
                                  f"{reason}; specialise this node to VVAU_hls (needs Vitis HLS)")
        if self.get_nodeattr("mem_mode") == "internal_decoupled" and self.get_nodeattr("ram_style") == "ultra" \
                and self.get_nodeattr("runtime_writeable_weights") != 1:
            raise UnsupportedVVAU(f"{self.onnx_node.name}: URAM weights on UltraScale+ need "
                                  "runtime_writeable_weights=1 (URAM has no initial content)")

    def _embedded(self) -> bool:
        return self.get_nodeattr("mem_mode") == "internal_embedded"

    # ---- code generation -----------------------------------------------------------------------
    def wrapper(self):
        self.check_supported()
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        idt, wdt, odt = self.get_input_datatype(0), self.get_input_datatype(1), self.get_output_datatype()
        acc, w_data = odt.bitwidth(), pe * simd * wdt.bitwidth()
        w_bits = padded_stream_bits(w_data)
        inputs = [("in0_V", self.get_instream_width_padded(0))]
        weights = ["\twire [{0}-1:0]  wdata;".format(w_bits), "\twire  wvalid;", "\twire  wready;"]
        if self._embedded():
            init = Path(self.get_nodeattr("code_gen_dir_ipgen")) / WEIGHT_FILE
            weights.append(
                f"\tvvau_rtl_weight_rom #(.DEPTH({self.calc_wmem()}), .WIDTH({w_bits}), .INIT_FILE(\"{init}\"),\n"
                f"\t\t.RAM_STYLE(\"{self.get_nodeattr('ram_style')}\")\n"
                "\t) weights (.clk(ap_clk), .rst(!ap_rst_n), .m_tdata(wdata), .m_tvalid(wvalid), .m_tready(wready));")
        else:  # internal_decoupled (the node's memstream drives in1_V) or external
            inputs.append(("in1_V", w_bits))
            weights.append("\tassign\twdata = in1_V_TDATA;\n\tassign\twvalid = in1_V_TVALID;\n"
                           "\tassign\tin1_V_TREADY = wready;")
        return Wrapper(
            inputs=inputs, outputs=[("out0_V", self.get_outstream_width_padded(0))], core="vvau_rtl",
            parameters={"PE": pe, "SIMD": simd, "SF": int(math.prod(self.get_nodeattr("Kernel"))) // simd,
                        "ACT_WIDTH": idt.bitwidth(), "WEIGHT_WIDTH": wdt.bitwidth(), "ACCU_WIDTH": acc,
                        "SIGNED_ACT": int(idt.signed()), "SIGNED_WEIGHTS": int(wdt.signed()),
                        "USE_DSP": int(self.use_dsp())},
            connections={"clk": "ap_clk", "rst": "!ap_rst_n",
                         **stream_connections("a", "in0_V", f"in0_V_TDATA[{pe * simd * idt.bitwidth()}-1:0]"),
                         "w_tdata": f"wdata[{w_data}-1:0]", "w_tvalid": "wvalid", "w_tready": "wready",
                         **stream_connections("y", "out0_V", "odata")},
            before=[*weights, f"\twire [{pe * acc}-1:0]  odata;"],
            after=[output_assign(pe * acc, sign_extend=True)])

    def write_companions(self, model, fpgapart) -> None:
        """The weights: params.h and, by mode, the memstream's files or the ROM's memblock.dat."""
        code_gen_dir = Path(self.get_nodeattr("code_gen_dir_ipgen"))
        self.generate_params(model, str(code_gen_dir))
        if self._embedded():  # generate_params wrote params.h only
            self.write_embedded_weights(model.get_initializer(self.onnx_node.input[1]), code_gen_dir / WEIGHT_FILE)
        if self.get_nodeattr("mem_mode") == "internal_decoupled":
            self.generate_hdl_memstream(fpgapart)

    def write_embedded_weights(self, weights, path: Path) -> None:
        """memblock.dat for the wrapper's ROM: the words make_weight_file("decoupled_verilog_dat") writes
        for the memstream (weight (pe, simd) at element pe*SIMD + simd, lowest first), which it cannot
        write here since the node has no weight stream (get_instream_width(1) = 0) when embedded."""
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        wdt = self.get_input_datatype(1)
        words = np.transpose(self.get_hw_compatible_weight_tensor(weights), (0, 2, 1, 3))  # (1, WMEM, PE, SIMD)
        words = np.flip(words, axis=(-2, -1)).reshape(1, -1, pe * simd)  # element 0 last: lowest bits
        hexw = pack_innermost_dim_as_hex_string(words, wdt, roundup_to_integer_multiple(pe * simd * wdt.bitwidth(), 4),
                                                prefix="")
        path.write_text("".join(f"{h}\n" for h in hexw.flatten()))

    def core_files(self) -> list[str]:
        return [*self.CORES, *([self.ROM] if self._embedded() else [])]

    # finn-plus's VVAU builds the block design hierarchy (with a decoupled layer's memstream) for either
    # implementation and has instantiate_ip add the layer into it
    code_generation_ipi = VVAU.code_generation_ipi

    def instantiate_ip(self, cmd):
        if not self.is_generic():
            return FinnVVAU_rtl.instantiate_ip(self, cmd)
        name, top = self.onnx_node.name, self.get_nodeattr("gen_top_module")
        cmd += self.add_files_tcl()
        where = f"/{name}/{name}" if self.get_nodeattr("mem_mode") == "internal_decoupled" else name
        cmd.append(f"create_bd_cell -type hier -reference {top} {where}")

    # ---- resource estimates --------------------------------------------------------------------
    def weights_in_lutram(self) -> bool:
        """Whether the layer's weight memory (its memstream's or its ROM) is distributed RAM (lutram.py)."""
        return self.get_nodeattr("mem_mode") != "external" and in_lutram(self.get_nodeattr("ram_style"),
                                                                         self.calc_wmem())

    def generic_dsp_estimation(self, fpgapart):
        """One DSP48E2 per product (PE*SIMD) when the multipliers go to DSPs, else none."""
        return self.get_nodeattr("PE") * self.get_nodeattr("SIMD") if self.use_dsp() else 0

    def generic_bram_estimation(self, fpgapart):
        return 0 if self.weights_in_lutram() else FinnVVAU_rtl.bram_estimation(self, fpgapart)

    def generic_uram_estimation(self, fpgapart):
        return FinnVVAU_rtl.uram_estimation(self, fpgapart)

    def generic_lut_estimation(self, fpgapart):
        """Per PE: SIMD multipliers in LUTs (FINN-R's model) unless in DSPs, a SIMD-input adder tree
        and the accumulator at the accumulator width, the output queue (LUTRAM); plus control and the
        weight memory where it is distributed RAM."""
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        a, w = self.get_input_datatype(0).bitwidth(), self.get_input_datatype(1).bitwidth()
        acc = self.get_output_datatype().bitwidth()
        mult = 0 if self.use_dsp() else (2 * math.ceil((a + w) / 6) - 1) * (a + w)
        per_pe = simd * mult + (simd - 1) * acc + acc + acc
        mem = lutram_luts(pe * simd * w, self.calc_wmem()) if self.weights_in_lutram() else 0
        return int(LUTS_CONTROL + pe * per_pe + mem)

"""VVAU_rtl for every FPGA family: finn-plus's RTL VVAU with a datapath of ours where it has none.

finn-plus 1.6.1's VVAU_rtl (depthwise convolution) instantiates finn-rtllib's mvu_vvu_axi.sv, whose
VVU mode needs Versal's DSP58; SpecializeLayers therefore picks VVAU_hls on UltraScale+ (ZCU104),
whose RTL exists only after Vitis HLS. Without it no network with depthwise convolutions can be
verilated (compile/rtlsim/) and every bitstream needs Vitis HLS.

This module keeps the op type VVAU_rtl (finn-plus keys weight file layout, memstream generation,
folding and IODMA insertion on that name) and registers a subclass of finn-plus's class under it
(compile/hwops/__init__.py). On Versal parts everything is finn-plus's. Elsewhere generate_hdl fills
hdl/vvau_template_wrapper.v around hdl/vvau_core.sv, a behavioural multiply-accumulate that Vivado
maps to DSP48E2 slices or LUTs, and records that in the node attribute `rtl_variant`, which the file
list, the IP integrator commands and the estimates follow. Weights come, as for finn-plus's VVAU_rtl,
from the node's memstream (mem_mode internal_decoupled: memblock.dat, wired by VVAU's own
code_generation_ipi), from the in1_V stream (external), or from a ROM in the wrapper
(internal_embedded: hdl/vvau_weight_rom.sv, the same memblock.dat layout).

Only noActivation=1 is implemented (thresholds in a separate Thresholding layer, as our builds
make them): a node with embedded thresholds, binary/bipolar data or non-integer data stays VVAU_hls.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from qonnx.util.basic import roundup_to_integer_multiple

from finn.custom_op.fpgadataflow.rtl.vectorvectoractivation_rtl import VVAU_rtl as FinnVVAU_rtl
from finn.util.basic import is_versal
from finn.util.data_packing import pack_innermost_dim_as_hex_string

from .lutram import in_lutram, lutram_luts
from .template_rtl import AXI_BYTE, HDL_DIR, retype_as_rtl

CORE_FILES = ("vvau_core.sv",)
ROM_FILE = "vvau_weight_rom.sv"
WRAPPER_TEMPLATE = "vvau_template_wrapper.v"
WEIGHT_FILE = "memblock.dat"  # FINN's name for the VVAU_rtl weight stream (make_weight_file)

#: node attribute: which datapath generate_hdl produced ("" before code generation: finn-plus's)
VARIANT_ATTR = "rtl_variant"
VARIANT_VERSAL = "versal_dsp58"
VARIANT_GENERIC = "generic"

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


def _sv_bit(flag: bool) -> str:
    return "1" if flag else "0"


class VVAU_rtl(FinnVVAU_rtl):
    """finn-plus's VVAU_rtl, with our datapath (hdl/vvau_core.sv) on parts without DSP58."""

    def get_nodeattr_types(self):
        attrs = super().get_nodeattr_types()
        attrs[VARIANT_ATTR] = ("s", False, "", {"", VARIANT_VERSAL, VARIANT_GENERIC})
        return attrs

    def _generic(self) -> bool:
        return self.get_nodeattr(VARIANT_ATTR) == VARIANT_GENERIC

    # ---- parameters --------------------------------------------------------------------------
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

    def _codegen_dict(self) -> dict[str, str]:
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        k = int(math.prod(self.get_nodeattr("Kernel")))
        idt, wdt, odt = self.get_input_datatype(0), self.get_input_datatype(1), self.get_output_datatype()
        acc = odt.bitwidth()
        out_bits = self.get_outstream_width_padded(0)
        pad = out_bits - pe * acc
        out = "odata" if pad == 0 else f"{{{{{pad}{{odata[{pe * acc - 1}]}}}}, odata}}"
        mem_mode = self.get_nodeattr("mem_mode")
        w_bits = roundup_to_integer_multiple(pe * simd * wdt.bitwidth(), AXI_BYTE)
        d = {
            "$TOP_MODULE_NAME$": self.get_verilog_top_module_name(),
            "$PE$": str(pe), "$SIMD$": str(simd), "$SF$": str(k // simd),
            "$ACT_WIDTH$": str(idt.bitwidth()), "$WEIGHT_WIDTH$": str(wdt.bitwidth()), "$ACCU_WIDTH$": str(acc),
            "$SIGNED_ACT$": _sv_bit(idt.signed()), "$SIGNED_WEIGHTS$": _sv_bit(wdt.signed()),
            "$USE_DSP$": _sv_bit(self.use_dsp()),
            "$IN_STREAM_BITS$": str(self.get_instream_width_padded(0)), "$OUT_STREAM_BITS$": str(out_bits),
            "$W_STREAM_BITS$": str(w_bits), "$OUT_TDATA$": out,
        }
        if mem_mode == "internal_embedded":
            init = Path(self.get_nodeattr("code_gen_dir_ipgen")) / WEIGHT_FILE
            d["$BUSIF$"] = "in0_V:out0_V"
            d["$WEIGHT_PORTS$"] = ""
            d["$WEIGHT_SOURCE$"] = (
                f"\tvvau_weight_rom #(.DEPTH({self.calc_wmem()}), .WIDTH({w_bits}), .INIT_FILE(\"{init}\"),\n"
                f"\t\t.RAM_STYLE(\"{self.get_nodeattr('ram_style')}\")\n"
                "\t) weights (.clk(ap_clk), .rst(!ap_rst_n), .m_tdata(wdata), .m_tvalid(wvalid), .m_tready(wready));\n")
        else:  # internal_decoupled (the node's memstream drives in1_V) or external
            d["$BUSIF$"] = "in0_V:in1_V:out0_V"
            d["$WEIGHT_PORTS$"] = ("\n\t//- AXI Stream - Weights ------------\n\toutput\tin1_V_TREADY,\n"
                                   f"\tinput\tin1_V_TVALID,\n\tinput\t[{w_bits}-1:0]  in1_V_TDATA,\n")
            d["$WEIGHT_SOURCE$"] = ("\tassign\twdata = in1_V_TDATA;\n\tassign\twvalid = in1_V_TVALID;\n"
                                    "\tassign\tin1_V_TREADY = wready;\n")
        return d

    # ---- code generation -----------------------------------------------------------------------
    def generate_hdl(self, model, fpgapart, clk):
        if is_versal(fpgapart):
            self.set_nodeattr(VARIANT_ATTR, VARIANT_VERSAL)
            return super().generate_hdl(model, fpgapart, clk)
        self.check_supported()
        self.set_nodeattr(VARIANT_ATTR, VARIANT_GENERIC)
        code_gen_dir = Path(self.get_nodeattr("code_gen_dir_ipgen"))
        self.generate_params(model, str(code_gen_dir))
        if self.get_nodeattr("mem_mode") == "internal_embedded":  # generate_params wrote params.h only
            self.write_embedded_weights(model.get_initializer(self.onnx_node.input[1]), code_gen_dir / WEIGHT_FILE)
        self.set_nodeattr("gen_top_module", self.get_verilog_top_module_name())
        text = (HDL_DIR / WRAPPER_TEMPLATE).read_text()
        for key, val in self._codegen_dict().items():
            text = text.replace(key, val)
        (code_gen_dir / f"{self.get_nodeattr('gen_top_module')}_wrapper.v").write_text(text)
        if self.get_nodeattr("mem_mode") == "internal_decoupled":
            self.generate_hdl_memstream(fpgapart)
        self.set_nodeattr("ipgen_path", str(code_gen_dir))
        self.set_nodeattr("ip_path", str(code_gen_dir))

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

    def get_rtl_file_list(self, abspath=False):
        if not self._generic():
            return super().get_rtl_file_list(abspath)
        names = list(CORE_FILES) + ([ROM_FILE] if self.get_nodeattr("mem_mode") == "internal_embedded" else [])
        wrapper = self.get_nodeattr("gen_top_module") + "_wrapper.v"
        if not abspath:
            return [wrapper, *names]
        return [str(Path(self.get_nodeattr("code_gen_dir_ipgen")) / wrapper), *(str(HDL_DIR / n) for n in names)]

    def get_verilog_paths(self):
        if not self._generic():
            return super().get_verilog_paths()
        return [self.get_nodeattr("code_gen_dir_ipgen"), str(HDL_DIR)]

    def instantiate_ip(self, cmd):
        """Vivado IP integrator commands for the node's RTL (VVAU.code_generation_ipi wraps them, with
        the memstream, into a hierarchy for internal_decoupled, as for finn-plus's RTL VVAU)."""
        if not self._generic():
            return super().instantiate_ip(cmd)
        name, top = self.onnx_node.name, self.get_nodeattr("gen_top_module")
        for f in self.get_rtl_file_list(abspath=True):
            cmd.append(f"add_files -norecurse {f}")
        if self.get_nodeattr("mem_mode") == "internal_decoupled":
            cmd.append(f"create_bd_cell -type hier -reference {top} /{name}/{name}")
        else:
            cmd.append(f"create_bd_cell -type hier -reference {top} {name}")

    # ---- resource estimates --------------------------------------------------------------------
    def weights_in_lutram(self) -> bool:
        """Whether the layer's weight memory (its memstream's or its ROM) is distributed RAM (lutram.py)."""
        return self.get_nodeattr("mem_mode") != "external" and in_lutram(self.get_nodeattr("ram_style"),
                                                                         self.calc_wmem())

    def bram_estimation(self, fpgapart):
        if is_versal(fpgapart) or not self.weights_in_lutram():
            return super().bram_estimation(fpgapart)
        return 0

    def dsp_estimation(self, fpgapart):
        """One DSP48E2 per product (PE*SIMD) when the multipliers go to DSPs, else none."""
        if is_versal(fpgapart):
            return super().dsp_estimation(fpgapart)
        return self.get_nodeattr("PE") * self.get_nodeattr("SIMD") if self.use_dsp() else 0

    def lut_estimation(self, fpgapart):
        """Per PE: SIMD multipliers in LUTs (FINN-R's model) unless in DSPs, a SIMD-input adder tree
        and the accumulator at the accumulator width, the output queue (LUTRAM); plus control and the
        weight memory where it is distributed RAM."""
        if is_versal(fpgapart):
            return super().lut_estimation(fpgapart)
        pe, simd = self.get_nodeattr("PE"), self.get_nodeattr("SIMD")
        a, w = self.get_input_datatype(0).bitwidth(), self.get_input_datatype(1).bitwidth()
        acc = self.get_output_datatype().bitwidth()
        mult = 0 if self.use_dsp() else (2 * math.ceil((a + w) / 6) - 1) * (a + w)
        per_pe = simd * mult + (simd - 1) * acc + acc + acc
        mem = lutram_luts(pe * simd * w, self.calc_wmem()) if self.weights_in_lutram() else 0
        return int(LUTS_CONTROL + pe * per_pe + mem)

"""Code generation shared by our RTL layers: a core module kept in hdl/ and a per-node wrapper filled in
from a template, as finn-plus's own RTL ops share finn-rtllib's files (one module definition in a
stitched design, for Vivado and Verilator alike)."""
from __future__ import annotations

from pathlib import Path

from qonnx.util.basic import roundup_to_integer_multiple

HDL_DIR = Path(__file__).resolve().parent / "hdl"
AXI_BYTE = 8  # AXI-stream TDATA is padded to whole bytes


def padded_stream_bits(data_bits: int) -> int:
    """TDATA width of a stream carrying `data_bits` bits per beat."""
    return int(roundup_to_integer_multiple(data_bits, AXI_BYTE))


def output_stream_values(data_bits: int) -> dict:
    """Template values of an output stream whose wrapper computes `data_bits` bits of `odata` per beat:
    its padded width and its TDATA, the padding zeros."""
    pad = padded_stream_bits(data_bits) - data_bits
    return {
        "OUT_STREAM_BITS": padded_stream_bits(data_bits),
        "OUT_TDATA": f"{{{{{pad}{{1'b0}}}}, odata}}" if pad else "odata",
    }


def passthrough_stream_values(data_bits: int) -> dict:
    """Template values of a layer whose output word is as wide as its input word (PE elements of the
    input type, as the pools'): both streams padded to whole bytes, the output's padding zeros."""
    return {"IN_STREAM_BITS": padded_stream_bits(data_bits), **output_stream_values(data_bits)}


def retype_as_rtl(node, op_type: str) -> None:
    """Make an HLS-specialised node our RTL op `op_type` in place (after finn-plus's SpecializeLayers chose
    HLS for it), dropping the attributes only the HLS variant has."""
    from qonnx.custom_op.registry import getCustomOp

    node.op_type, node.domain = op_type, "finn.custom_op.fpgadataflow.rtl"
    keep = getCustomOp(node).get_nodeattr_types()
    for a in [a for a in node.attribute if a.name not in keep]:
        node.attribute.remove(a)


class GenericExecRTL:
    """Mixin for an RTL backend of ours: its attributes are the generic op's (GENERIC) and RTLBackend's, and it
    executes as the generic op's Python model unless the node is in rtlsim mode."""

    GENERIC: type = object

    def get_nodeattr_types(self):
        from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

        attrs = {}
        attrs.update(self.GENERIC.get_nodeattr_types(self))
        attrs.update(RTLBackend.get_nodeattr_types(self))
        return attrs

    def execute_node(self, context, graph):
        from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

        if self.get_nodeattr("exec_mode") == "rtlsim":
            RTLBackend.execute_node(self, context, graph)
        else:
            self.GENERIC.execute_node(self, context, graph)


class RegistersOnly:
    """Estimates of one of our RTL layers built from registers and LUTs only."""

    def bram_estimation(self, fpgapart):
        return 0

    def uram_estimation(self, fpgapart):
        return 0

    def dsp_estimation(self, fpgapart):
        return 0


class TemplateRTL:
    """Mixin for an RTLBackend op: CORE (hdl/ file name), WRAPPER_TEMPLATE, and get_template_values()
    (placeholder -> value, TOP_MODULE_NAME among them) make its generate_hdl and file lists."""

    CORE: str = ""
    WRAPPER_TEMPLATE: str = ""

    def generate_hdl(self, model, fpgapart, clk):
        """The node's wrapper (from our template), in code_gen_dir_ipgen."""
        values = self.get_template_values()
        text = (HDL_DIR / self.WRAPPER_TEMPLATE).read_text()
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
            return [self.CORE, wrapper]
        return [str(HDL_DIR / self.CORE), str(Path(self.get_nodeattr("code_gen_dir_ipgen")) / wrapper)]

    def get_verilog_paths(self):
        return [self.get_nodeattr("code_gen_dir_ipgen"), str(HDL_DIR)]

    def code_generation_ipi(self):
        """Tcl for Vivado's block design: add the sources, instantiate the wrapper as a module."""
        cmd = [f"add_files -norecurse {f}" for f in self.get_rtl_file_list(abspath=True)]
        cmd.append(f"create_bd_cell -type module -reference {self.get_nodeattr('gen_top_module')} "
                   f"{self.onnx_node.name}")
        return cmd

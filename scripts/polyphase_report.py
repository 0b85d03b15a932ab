"""Issue 16's sweep over samples per clock: accuracy and score from the committed point records of
sweeps/polyphase.yaml, frames/s and resources from compiling each trial's final model, as a table and a
plot of frames/s against accuracy.

  python scripts/polyphase_report.py [--records sweeps/results/polyphase] [--runs runs/sweeps/polyphase/trials]
      [--budget lut=0.5] [--plot docs/polyphase_fps_vs_accuracy.png]

A trial's run folder is needed to compile it (the records hold figures, not weights); a trial without one
is listed with its accuracy and score only. Builds go to hw/builds/<trial>-zcu104 and are reused when they
exist (delete one to recompile).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amc_cli import command  # noqa: E402
SNR_BANDS = {"-20..-8 dB": range(-20, -6, 2), "-6..+8 dB": range(-6, 10, 2), "+10..+30 dB": range(10, 32, 2)}


def hardware(run: Path, trial: str, budget: str) -> dict | None:
    """compile/'s report of the trial's final model (its command line, never an import)."""
    if not (run / "model.onnx").is_file():
        return None
    out = ROOT / "hw" / "builds" / f"{trial}-zcu104"
    if not (out / "report.json").is_file():
        cmd = [sys.executable, "-m", "compile.build", "compile", str(run), "--board", "zcu104", "--budget", budget,
               "--out", str(out), "--json"]
        if subprocess.run(cmd, capture_output=True, text=True).returncode != 0:
            return None
    rep = json.loads((out / "report.json").read_text())
    r = rep["resources"]
    return {"fps": rep["throughput"]["frames_per_s"], "cycles": rep["throughput"]["cycles_per_frame"],
            "LUT": r["LUT"]["estimate"], "BRAM_18K": r["BRAM_18K"]["estimate"], "DSP": r["DSP"]["estimate"],
            "rtlsim_cycles": (rep.get("rtlsim") or {}).get("cycles_per_frame")}


def band(acc_per_snr: dict, snrs) -> float:
    vals = [acc_per_snr[str(s)] for s in snrs if str(s) in acc_per_snr]
    return sum(vals) / len(vals) if vals else float("nan")


@command
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default=str(ROOT / "sweeps" / "results" / "polyphase"))
    ap.add_argument("--runs", default=str(ROOT / "runs" / "sweeps" / "polyphase" / "trials"))
    ap.add_argument("--budget", default="lut=0.5")
    ap.add_argument("--plot", default=str(ROOT / "docs" / "polyphase_fps_vs_accuracy.png"))
    a = ap.parse_args()

    recs = [json.loads(p.read_text()) for p in sorted(Path(a.records).glob("*.json"))]
    if not recs:
        sys.exit(f"no point records under {a.records}: run `python -m model.sweep run sweeps/polyphase.yaml` first")
    rows = []
    for rec in recs:
        p = int(rec["recipe"]["net"]["args"].get("polyphase", 1))
        hw = hardware(Path(a.runs) / rec["label"], rec["label"], a.budget)
        rows.append({"P": p, "rec": rec, "hw": hw})
    rows.sort(key=lambda r: r["P"])
    print("| P | test accuracy | " + " | ".join(SNR_BANDS) + " | score (bit ops, bit mem) | ladder: accuracy @ score "
          "| cycles/frame | frames/s | LUT | BRAM_18K | DSP |")
    print("|---:|---:|" + "---:|" * len(SNR_BANDS) + "---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        row, hw = r["rec"]["row"], r["hw"] or {}
        ladder = ", ".join(f"{g['accuracy']:.4f} @ {g['score']:.6f}" for g in r["rec"]["rungs"])
        bands = " | ".join(f"{band(row['accuracy_per_snr'], s):.4f}" for s in SNR_BANDS.values())
        hw_cells = (f"{hw['cycles']:,} | {hw['fps']:,.0f} | {hw['LUT']:,.0f} | {hw['BRAM_18K']:,.0f} | {hw['DSP']:,.0f}"
                    if hw else "- | - | - | - | -")
        print(f"| {r['P']} | {row['accuracy']:.4f} | {bands} | {row['score']:.6f} ({row['bit_ops']:,.0f}, "
              f"{row['bit_mem']:,.0f}) | {ladder} | {hw_cells} |")
    gen = {json.dumps(r["rec"]["data"].get("synthetic_generator"), sort_keys=True) for r in rows}
    print(f"\n{len(rows)} trial(s); data: {recs[0]['data'].get('path')} ({len(gen)} generator setting(s))")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    for r in rows:
        if not r["hw"]:
            continue
        # every pruning step's model runs at the same rate (FINN does not exploit sparsity): one column per P
        x = r["hw"]["fps"]
        rungs = r["rec"]["rungs"]
        line = ax.plot([x] * len(rungs), [g["accuracy"] for g in rungs], "-", alpha=0.4)[0]
        for g in rungs:
            ax.scatter([x], [g["accuracy"]], s=18, color=line.get_color())
            ax.annotate(f"{g['score']:.4f}", (x, g["accuracy"]), textcoords="offset points", xytext=(5, -3),
                        fontsize=7)
        ax.annotate(f"P={r['P']}", (x, max(g["accuracy"] for g in rungs)), textcoords="offset points",
                    xytext=(-8, 6), fontsize=9, color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("frames/s, ZCU104 at 250 MHz (FINN estimate, within 50% of the LUTs)")
    ax.set_ylabel("test accuracy (synthetic)")
    ax.set_title("`ours` at P I/Q samples per clock: each pruning step's model, labelled with its score", fontsize=9)
    ax.grid(alpha=0.3)
    fig.savefig(a.plot, dpi=120)
    print(f"plot: {a.plot}")


if __name__ == "__main__":
    sys.exit(main())

"""The hardware-against-software report, written on the host from what the board (or emulator) returned.

Inputs: the results folder of driver.run (results.json, frames.npz), the run folder's predictions.npz
(the software model's per-frame predictions and logits, from PyTorch), the build's report.json
(compile/'s throughput and latency estimates) and the run's cost.json (inference cost score, bit ops).
Outputs: report.md, report.json and plots/*.png next to them. An emulated deployment says so in the
title, in every table heading that carries a measured figure, and in every plot.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from amc_cli import RefusedInput, command
from amc_cli.inputs import read_json

REPORT_FORMAT = "amc-fpga-deploy-report/1"
SNRS_DB = tuple(range(-20, 31, 2))


class ReportError(RefusedInput):
    pass


def _acc(pred, label, mask=None):
    if mask is not None:
        pred, label = pred[mask], label[mask]
    return float((pred == label).mean()) if len(label) else None


def compare(hw: dict, sw: dict | None, classes: list) -> dict:
    """Frame-by-frame comparison; hw/sw: dicts of arrays (index, label, snr_db, predicted[, logits])."""
    idx, label, snr, hp = hw["index"], hw["label"], hw["snr_db"], hw["predicted"]
    out: dict = {"frames": int(len(idx)), "hw_accuracy": _acc(hp, label)}
    per_snr = {int(s): {"frames": int((snr == s).sum()), "hw": _acc(hp, label, snr == s)} for s in np.unique(snr)}
    per_cls = {int(c): {"frames": int((label == c).sum()), "hw": _acc(hp, label, label == c)} for c in np.unique(label)}
    if sw is not None:
        pos = {int(i): k for k, i in enumerate(sw["index"])}
        missing = [int(i) for i in idx if int(i) not in pos]
        if missing:
            raise ReportError(f"{len(missing)} frames run on the accelerator are not in the software predictions "
                              f"(e.g. index {missing[0]}): they belong to another run or data file")
        k = np.asarray([pos[int(i)] for i in idx])
        if not (np.array_equal(sw["label"][k], label) and np.array_equal(sw["snr_db"][k], snr)):
            raise ReportError("labels/SNRs of the hardware frames differ from the software predictions' for the "
                              "same indices: the data file is not the one the software model was evaluated on")
        sp = sw["predicted"][k].astype(np.int64)
        agree = sp == hp
        out.update({"sw_accuracy": _acc(sp, label), "agreement": float(agree.mean()),
                    "agreeing_frames": int(agree.sum())})
        for s, row in per_snr.items():
            m = snr == s
            row.update({"sw": _acc(sp, label, m), "agreement": float(agree[m].mean())})
        for c, row in per_cls.items():
            m = label == c
            row.update({"sw": _acc(sp, label, m), "agreement": float(agree[m].mean())})
        dis = []
        ties = np.zeros(len(idx), dtype=bool)
        if "logits" in sw:
            sl = sw["logits"][k].astype(np.float64)
            if "logits" in hw:
                diff = np.abs(sl - hw["logits"].astype(np.float64))
                out["max_abs_logit_diff"] = float(diff.max()) if diff.size else 0.0
            srt = np.sort(sl, axis=1)
            margin = srt[:, -1] - srt[:, -2]
            # as compile/verify: logits closer than float tolerance are a tie, which float rounding may
            # break either way; the accelerator's pick must be one of the tied classes
            tol = 1e-4 * (1.0 + float(np.abs(sl).max())) if sl.size else 0.0
            ties = ~agree & (sl[np.arange(len(idx)), hp] >= srt[:, -1] - tol)
            out["tie_tolerance"] = tol
        else:
            margin = np.full(len(idx), np.nan)
        out["ties"] = int(ties.sum())
        out["agreement_up_to_ties"] = float((agree | ties).mean())
        out["consistent"] = bool((agree | ties).all())
        for j in np.flatnonzero(~agree)[:50]:
            dis.append({"index": int(idx[j]), "label": int(label[j]), "snr_db": int(snr[j]),
                        "sw_predicted": int(sp[j]), "hw_predicted": int(hp[j]),
                        "sw_top2_margin": None if np.isnan(margin[j]) else float(margin[j]), "tie": bool(ties[j])})
        out["disagreements"] = dis
        out["disagreements_total"] = int((~agree).sum())
    out["per_snr"] = per_snr
    out["per_class"] = {(classes[c] if c < len(classes) else str(c)): row for c, row in per_cls.items()}
    return out


def _fmt(v, spec=".2%"):
    return "-" if v is None else format(v, spec)


def _plots(rep: dict, plots: Path, label: str) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.mkdir(parents=True, exist_ok=True)
    made = []
    cmp_ = rep["comparison"]
    hw_name = "emulation" if rep["emulation"] else "hardware"
    snrs = sorted(cmp_["per_snr"], key=int)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([int(s) for s in snrs], [cmp_["per_snr"][s]["hw"] for s in snrs], "o-", label=hw_name)
    if "sw_accuracy" in cmp_:
        ax.plot([int(s) for s in snrs], [cmp_["per_snr"][s]["sw"] for s in snrs], "x--", label="software (PyTorch)")
    ax.set_xlabel("SNR (dB)"), ax.set_ylabel("accuracy"), ax.set_ylim(0, 1.02), ax.grid(alpha=0.3), ax.legend()
    ax.set_title(f"{label}: accuracy per SNR")
    fig.tight_layout(), fig.savefig(plots / "accuracy_vs_snr.png", dpi=110), plt.close(fig)
    made.append("plots/accuracy_vs_snr.png")

    names = list(cmp_["per_class"])
    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(names))
    ax.bar(x - 0.2, [cmp_["per_class"][n]["hw"] for n in names], 0.4, label=hw_name)
    if "sw_accuracy" in cmp_:
        ax.bar(x + 0.2, [cmp_["per_class"][n]["sw"] for n in names], 0.4, label="software (PyTorch)")
    ax.set_xticks(x), ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("accuracy"), ax.set_ylim(0, 1.02), ax.legend(), ax.set_title(f"{label}: accuracy per class")
    fig.tight_layout(), fig.savefig(plots / "accuracy_per_class.png", dpi=110), plt.close(fig)
    made.append("plots/accuracy_per_class.png")

    tp = rep["performance"]["throughput"]
    if tp:
        fig, ax = plt.subplots(figsize=(7, 4))
        bs = [r["batch_size"] for r in tp]
        ax.plot(bs, [r["frames_per_s"] for r in tp], "o-", label=f"measured ({hw_name})")
        est = rep["performance"]["estimate"].get("frames_per_s")
        if est:
            ax.axhline(est, color="C1", ls="--", label="compile estimate (hardware)")
        ax.set_xscale("log", base=2), ax.set_yscale("log"), ax.set_xlabel("batch size"), ax.set_ylabel("frames/s")
        ax.grid(alpha=0.3, which="both"), ax.legend(), ax.set_title(f"{label}: throughput")
        fig.tight_layout(), fig.savefig(plots / "throughput_vs_batch.png", dpi=110), plt.close(fig)
        made.append("plots/throughput_vs_batch.png")
    return made


def build_report(results_dir: Path, predictions: Path | None, build_report_json: Path | None,
                 cost_json: Path | None, classes: list | None = None) -> dict:
    results_dir = Path(results_dir)
    res = read_json(results_dir / "results.json")
    f = np.load(results_dir / "frames.npz")
    hw = {k: f[k] for k in f.files}
    sw = None
    if predictions is not None and Path(predictions).is_file():
        d = np.load(predictions)
        sw = {k: d[k] for k in d.files}
    est = read_json(Path(build_report_json)) if build_report_json and Path(build_report_json).is_file() else None
    cost = read_json(Path(cost_json)) if cost_json and Path(cost_json).is_file() else None
    comparison = compare(hw, sw, classes or [])
    tp_rows = [{"batch_size": r["batch_size"], "frames_per_s": r.get("throughput[images/s]"),
                "runtime_ms": r.get("runtime[ms]"), "repeats": r.get("repeats"),
                "frames_per_s_at_clock": r.get("throughput_at_clock[images/s]"),
                "simulated_cycles": r.get("simulated_cycles")} for r in res.get("throughput", [])]
    estimate = {}
    if est:
        estimate = {"frames_per_s": est["throughput"]["frames_per_s"], "cycles_per_frame": est["throughput"]["cycles_per_frame"],
                    "latency_us": est["latency"]["us"], "clock_mhz": est["clock_mhz"], "board": est["board"]["name"],
                    "bottleneck": est["throughput"]["bottleneck"]}
    return {
        "format": REPORT_FORMAT,
        "model": res.get("model"),
        "deployment": res.get("deployment"),
        "backend": res["backend"],
        "emulation": bool(res["emulation"]),
        "backend_info": res.get("backend_info", {}),
        "frames": res["frames"],
        "data": res.get("data"),
        "software_reference": str(predictions) if sw is not None else None,
        "comparison": comparison,
        "performance": {"throughput": tp_rows, "latency": res.get("latency"), "energy": res.get("energy"),
                        "accuracy_pass": res.get("accuracy_pass"), "estimate": estimate, "fclk_mhz": res.get("fclk_mhz"),
                        "simulation": res.get("simulation")},
        "cost": None if cost is None else {"score": cost.get("score"), "total_bops": cost.get("total_bops"),
                                           "total_mem_w_bits": cost.get("total_mem_w_bits"),
                                           "total_macs": cost.get("total_macs")},
        "versions": res.get("versions"),
    }


TAGS = {"board": "hardware", "emulation": "EMULATION", "rtlsim": "RTL SIMULATION"}


def to_markdown(rep: dict, plots: list) -> str:
    emu = rep["emulation"]
    rtl = rep["backend"] == "rtlsim"
    tag = TAGS.get(rep["backend"], "EMULATION" if emu else "hardware")
    mname = "simulated" if rtl else "emulated" if emu else "measured on the board"
    c = rep["comparison"]
    est = rep["performance"]["estimate"]
    L = [f"# Deploy report: {rep.get('deployment') or rep['model']} ({tag})", ""]
    if rtl:
        L += ["> **RTL SIMULATION, not hardware.** The stitched accelerator's RTL (the layers' generated RTL with "
              "FINN's width converters and FIFOs, as `make bitstream` builds it) ran in Verilator behind the same "
              "driver path as on a board (codes, packing, DMA buffers, unpacking, host ops). Accuracy and agreement "
              "are those of that RTL; cycle counts are the logic's at the build's clock (no DMA shell, no timing "
              "closure); wall-clock timings are the simulator's.", ""]
    elif emu:
        L += ["> **EMULATION, not hardware.** The compiled accelerator ("
              f"`{Path(rep['backend_info'].get('artefact', '?')).name}`) was executed in software by finn-plus's "
              "Python execution of each HW layer, behind the same driver path as on a board (codes, packing, DMA "
              "buffers, unpacking, host ops). Accuracy and agreement are those of the compiled design; every "
              "timing below is the emulator's and says nothing about the FPGA.", ""]
    L += [f"Frames: {c['frames']} — {rep['frames']['description']}. Data: `{rep['data']}`.", ""]
    L += ["## Hardware against software" if not emu else
          "## Simulated RTL against software" if rtl else "## Emulated accelerator against software", ""]
    if "agreement" in c:
        if c["agreement"] == 1.0:
            verdict = " (a correct build agrees on every frame)"
        elif c["consistent"]:
            verdict = (f" — the other {c['ties']} frame(s) are exact ties in the software logits (top-2 within "
                       f"{c['tie_tolerance']:.2g}), which float rounding breaks either way; the accelerator picked one "
                       "of the tied classes. Consistent with a correct build.")
        else:
            verdict = (" — **NOT 100%: the build does not compute what the software model computes** "
                       f"({c['disagreements_total'] - c['ties']} frame(s) disagree beyond float ties)")
        L += [f"- frame-by-frame top-1 agreement: **{c['agreeing_frames']}/{c['frames']} = {c['agreement']:.2%}**"
              + verdict,
              f"- accuracy: {tag} {_fmt(c['hw_accuracy'])}, software {_fmt(c['sw_accuracy'])}"]
        if "max_abs_logit_diff" in c:
            L.append(f"- largest |logit difference| to PyTorch: {c['max_abs_logit_diff']:.3g}")
        if c.get("disagreements"):
            L += ["", f"Disagreeing frames ({c['disagreements_total']}, first {len(c['disagreements'])}):", "",
                  "| index | label | SNR | software | " + tag + " | software top-2 margin | tie |",
                  "|---:|---:|---:|---:|---:|---:|---|"]
            for d in c["disagreements"]:
                L.append(f"| {d['index']} | {d['label']} | {d['snr_db']} | {d['sw_predicted']} | {d['hw_predicted']} | "
                         f"{_fmt(d['sw_top2_margin'], '.3g')} | {'yes' if d['tie'] else 'NO'} |")
    else:
        L += [f"- accuracy ({tag}): {_fmt(c['hw_accuracy'])}",
              "- no software reference (the run folder's predictions.npz): agreement not computed"]
    sw = "agreement" in c
    L += ["", "| SNR (dB) | frames | " + tag + " | software | agreement |", "|---:|---:|---:|---:|---:|"]
    for s in sorted(c["per_snr"], key=int):
        r = c["per_snr"][s]
        L.append(f"| {s} | {r['frames']} | {_fmt(r['hw'])} | {_fmt(r.get('sw')) if sw else '-'} | "
                 f"{_fmt(r.get('agreement')) if sw else '-'} |")
    L += ["", "| class | frames | " + tag + " | software | agreement |", "|---|---:|---:|---:|---:|"]
    for n, r in c["per_class"].items():
        L.append(f"| {n} | {r['frames']} | {_fmt(r['hw'])} | {_fmt(r.get('sw')) if sw else '-'} | "
                 f"{_fmt(r.get('agreement')) if sw else '-'} |")
    perf = rep["performance"]
    L += ["", f"## Throughput and latency ({mname} vs compile/'s estimates)", ""]
    if rtl:
        L += ["'frames/s at clock' is what the simulated clock cycles of one batch (first input beat to last output "
              "beat, pipeline filled and drained) mean at the build's clock; the other 'measured' columns are the "
              "simulator's wall-clock speed.", ""]
    elif emu:
        L += ["The 'measured' columns are the **emulator's** speed (FINN's Python execution on the host's CPU); the "
              "estimates are FINN's analytical model of the hardware at its clock. They are not comparable; the "
              "emulated figures only show that the benchmark path works.", ""]
    if est:
        L += [f"Estimate ({est['board']}, {est['clock_mhz']:g} MHz): {est['frames_per_s']:,.0f} frames/s "
              f"({est['cycles_per_frame']:,} cycles/frame, bottleneck {est['bottleneck']}), latency "
              f"{est['latency_us']:,.1f} us (critical path).", ""]
    if perf["throughput"] and rtl:
        L += ["| batch size | simulated cycles | frames/s at clock | estimate frames/s | at clock / estimate | "
              "simulator frames/s |", "|---:|---:|---:|---:|---:|---:|"]
        for r in perf["throughput"]:
            fc = r.get("frames_per_s_at_clock")
            ratio = fc / est["frames_per_s"] if est and fc else None
            L.append(f"| {r['batch_size']} | {_fmt(r.get('simulated_cycles'), ',.0f')} | {_fmt(fc, ',.0f')} | "
                     f"{est.get('frames_per_s', 0):,.0f} | {_fmt(ratio, '.2%')} | {r['frames_per_s']:,.1f} |")
    elif perf["throughput"]:
        L += [f"| batch size | frames/s ({tag}) | runtime per batch (ms) | estimate frames/s | {tag} / estimate |",
              "|---:|---:|---:|---:|---:|"]
        for r in perf["throughput"]:
            ratio = r["frames_per_s"] / est["frames_per_s"] if est and r["frames_per_s"] else None
            L.append(f"| {r['batch_size']} | {r['frames_per_s']:,.1f} | {r['runtime_ms']:,.3f} | "
                     f"{est.get('frames_per_s', 0):,.0f} | {'n/a (emulation)' if emu else _fmt(ratio, '.2%')} |")
    lat = perf.get("latency")
    if lat:
        L += ["", f"Single-frame latency ({tag}, {lat['repeats']} repeats): DMA round trip median "
              f"{lat['dma_median_us']:,.1f} us (p99 {lat['dma_p99_us']:,.1f}), whole driver path (pack, copy, run, "
              f"unpack) median {lat['execute_median_us']:,.1f} us"
              + (f"; estimate {est['latency_us']:,.1f} us." if est else ".")]
        if lat.get("simulated_cycles"):
            L += ["", f"Simulated single-frame latency: {lat['simulated_cycles']:,} cycles = "
                  f"{lat['simulated_us_at_clock']:,.2f} us at the clock (first input beat to last output beat)."]
    sim = perf.get("simulation")
    if sim:
        L += ["", f"Accuracy pass in simulated cycles: {sim['cycles']:,} cycles for {c['frames']} frames = "
              f"{sim['frames_per_s_at_clock']:,.0f} frames/s at {sim['clock_mhz']:g} MHz ({sim['note']})."]
    ap = perf.get("accuracy_pass") or {}
    if ap.get("frames_per_s"):
        L += ["", f"Accuracy pass end to end (HDF5 read, quantisation, packing, {tag}, host ops): "
              f"{ap['frames_per_s']:,.1f} frames/s at batch size {ap['batch_size']}."]
    en = perf.get("energy") or {}
    L += ["", "Energy per frame: " + (
        f"{en['j_per_frame_total'] * 1e6:,.2f} uJ total ({en['active_w']:.2f} W over rails {', '.join(en['rails'])} "
        f"while running), {en['j_per_frame_dynamic'] * 1e6:,.2f} uJ above idle ({en['idle_w']:.2f} W); "
        f"{en['frames']:,} frames in {en['seconds']:.1f} s at batch size {en['batch_size']}."
        if en.get("available") else f"not measured — {en.get('reason', 'unknown')}.")]
    cost = rep.get("cost")
    L += ["", "## Model cost (the challenge's inference cost, from the run's cost.json)", ""]
    if cost:
        L += ["| score | bit ops | bit mem (weights) | MACs |", "|---:|---:|---:|---:|",
              f"| {cost['score']:.4f} | {cost['total_bops']:,.0f} | {cost['total_mem_w_bits']:,.0f} | "
              f"{cost['total_macs']:,.0f} |"]
    else:
        L.append("no cost.json in the run folder")
    if plots:
        L += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots]
    v = rep.get("versions") or {}
    L += ["", "## Provenance", "", f"- backend: {rep['backend']}"
          + "".join(f"\n- {k}: `{val}`" for k, val in rep["backend_info"].items() if k != "note"),
          f"- software reference: `{rep['software_reference']}`",
          f"- ran on {v.get('host')} ({v.get('machine')}), Python {v.get('python')}, numpy {v.get('numpy')}, "
          f"finn-plus-driver {v.get('finn-plus-driver')}"]
    return "\n".join(L) + "\n"


def write_report(out_dir: Path, results_dir: Path, predictions: Path | None, build_report_json: Path | None,
                 cost_json: Path | None, classes: list | None = None) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rep = build_report(results_dir, predictions, build_report_json, cost_json, classes)
    label = f"{rep.get('deployment') or rep['model']} ({'EMULATION' if rep['emulation'] else 'hardware'})"
    plots = _plots(rep, out_dir / "plots", label)
    rep["plots"] = plots
    (out_dir / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
    (out_dir / "report.md").write_text(to_markdown(rep, plots))
    return rep


@command
def main(argv=None) -> int:
    """python -m driver.report <results dir> --run runs/<name> --build hw/builds/<name>-<board> [--out DIR]"""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m driver.report", description="(Re)write a deploy report from a "
                                 "results folder (what driver.run left on the board or in emulation).")
    ap.add_argument("results", help="results folder (results.json, frames.npz)")
    ap.add_argument("--run", default=None, help="run folder: predictions.npz, cost.json, io.json")
    ap.add_argument("--build", default=None, help="build folder: report.json (estimates)")
    ap.add_argument("--out", default=None, help="where to write report.md (default: the results folder's parent)")
    a = ap.parse_args(argv)
    run = Path(a.run) if a.run else None
    io = read_json(run / "io.json") if run and (run / "io.json").is_file() else {}
    rep = write_report(Path(a.out) if a.out else Path(a.results).resolve().parent, Path(a.results),
                       run / "predictions.npz" if run else None,
                       Path(a.build) / "report.json" if a.build else None, run / "cost.json" if run else None,
                       io.get("classes"))
    print(f"report: {Path(a.out or Path(a.results).resolve().parent) / 'report.md'} "
          f"({'EMULATION' if rep['emulation'] else 'hardware'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The synthetic generator judged by networks trained on the real file: the three real-trained critics
(the published baseline VGG10, Imperial_IPC1's final model, AaronNet32++'s export) score fresh synthetic
frames of each generator variant (model.synth.variants.VARIANTS).

    python -m research.critic_synth [--variant default round2 ...] [--per-block 8] [--snrs ...] [--json out.json]

Frames: `--per-block` frames of every (class, SNR) block, generated as write_synthetic_file generates them
(block seed [seed, class, SNR index]), so they are distributed exactly as a file's test frames. Every figure
printed says which variant (generator settings), seed and block size made it. 8 per block and all 26 SNRs
(4992 frames) take about a minute on one thread for the three critics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from amc_cli import command
from model.radioml import CLASSES, SNRS_DB
from model.synth.critic import load_critic, real_baseline_curve, reference_path, score
from model.synth.variants import VARIANTS
from model.synth.writer import make_block

CRITICS = {  # name -> file in shared/reference (tests/fixtures/reference holds copies)
    "baseline": "vgg10_w8a8_baseline.pth",
    "imperial": "imperial_ipc1_final_model.pth",
    "aaronnet": "aaronnet32pp_2021_export.onnx",
}
REPORT_SNRS = (-20, -10, -4, 0, 4, 10, 20, 30)


def synthetic_frames(config, per_block: int, snrs, seed: int):
    """(frames, labels, SNRs): `per_block` frames of every (class, SNR) block, as a file of that seed holds."""
    xs, ys, zs = [], [], []
    for mod in range(len(CLASSES)):
        for snr in snrs:
            xs.append(make_block(seed, mod, SNRS_DB.index(snr), per_block, config))
            ys.append(np.full(per_block, mod))
            zs.append(np.full(per_block, snr))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(zs)


def evaluate(config, critics: dict, per_block: int = 8, snrs=SNRS_DB, seed: int = 0, min_snr: int = 10) -> dict:
    """{critic name: CriticResult} on fresh frames of `config`."""
    x, y, z = synthetic_frames(config, per_block, snrs, seed)
    return {name: score(c, x, y, z, f"synthetic (seed {seed}, {per_block}/block)", min_snr)
            for name, c in critics.items()}


def summary_lines(variant: str, results: dict) -> list[str]:
    real = dict(zip(SNRS_DB, real_baseline_curve()))
    lines = []
    for name, r in results.items():
        per_snr = r.per_snr()
        shown = [s for s in REPORT_SNRS if s in per_snr]
        low = sorted(((a, c) for c, a in r.per_class().items() if a < 0.5))
        tops = r.top_confusions()
        lines.append(f"{variant:>14s} {name:>9s}: overall {r.overall:.3f}, from {r.min_snr:+d} dB {r.above():.3f}; "
                     + ", ".join(f"{s:+d} {per_snr[s]:.2f}" for s in shown)
                     + f"; {len(low)} classes < 0.5 from {r.min_snr:+d} dB: "
                     + ", ".join(f"{c} {a:.2f}->{tops[c][0]}" for a, c in low))
    if "baseline" in results:
        per_snr = results["baseline"].per_snr()
        lines.append(f"{'':>14s} real baseline on the real file: "
                     + ", ".join(f"{s:+d} {real[s]:.2f}" for s in REPORT_SNRS if s in per_snr))
    return lines


@command
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", nargs="+", default=["default"], choices=sorted(VARIANTS))
    p.add_argument("--critic", nargs="+", default=list(CRITICS), choices=list(CRITICS))
    p.add_argument("--per-block", type=int, default=8)
    p.add_argument("--snrs", type=int, nargs="+", default=list(SNRS_DB))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-snr", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="write every figure here")
    p.add_argument("--per-class", action="store_true", help="print each critic's per-class table too")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    critics = {name: load_critic(reference_path(CRITICS[name])) for name in args.critic}
    out = {}
    for variant in args.variant:
        t0 = time.perf_counter()
        results = evaluate(VARIANTS[variant], critics, args.per_block, args.snrs, args.seed, args.min_snr)
        for line in summary_lines(variant, results):
            print(line, flush=True)
        if args.per_class:
            tables = {n: (r.per_class(), r.top_confusions()) for n, r in results.items()}
            print(f"{'class':>10s} " + " ".join(f"{n:>20s}" for n in tables))
            for c in CLASSES:
                print(f"{c:>10s} " + " ".join(f"{t[0][c]:5.2f} -> {t[1][c][0]:<10s}" for t in tables.values()))
        print(f"({variant}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        out[variant] = {"config": json.loads(VARIANTS[variant].to_json()), "seed": args.seed,
                        "per_block": args.per_block, **{n: r.to_dict() for n, r in results.items()}}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

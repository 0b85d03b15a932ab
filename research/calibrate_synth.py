"""Proxy calibration of the synthetic generator: train a small float CNN, compare its accuracy-vs-SNR curve
with the real baseline's (shared/reference/README.md) and list the main confusions at high SNR.

    python -m research.calibrate_synth --frames-per-block 128 --epochs 8

The proxy is a 7-block VGG-like 1-D CNN (32-64 filters) trained for minutes on CPU, far smaller in data and
training than the quantized VGG10 baseline; its curve is a guide to the data's difficulty, not a stand-in
for the baseline's. The data file is cached and rebuilt when the generator's configuration changes.

The proxy itself is model.synth.proxy; `--variant` names one of model.synth.variants.VARIANTS, the generator's
named settings: `default`, `round3`, `round2` and `round1` (the defaults before calibration rounds 4, 3 and 2),
the rounds' steps, channel variants. research/critic_synth.py scores any of them with networks trained on the
real file (docs/synthetic-data.md), which rounds 3 and 4 calibrated against.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from amc_cli import command
from amc_cli.paths import REPO_ROOT as ROOT
from model.radioml import CLASSES, N_CLASSES, SNRS_DB, validate_file
from model.split import filter_by_snr, official_split
from model.synth.critic import REAL_BASELINE_OVERALL as REFERENCE_OVERALL
from model.synth.critic import draw_against_real, real_baseline_curve
from model.synth.proxy import ensure_data, predict, train_proxy
from model.synth.variants import VARIANTS

# The real baseline's accuracy per SNR (shared/reference/README.md) lives in model/synth/critic.py.


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames-per-block", type=int, default=128)
    p.add_argument("--seed", type=int, default=0, help="data seed")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="default",
                   help="generator configuration: the default or one of the channel changes tried against it")
    p.add_argument("--data", type=Path,
                   help="cached synthetic file (default data/calibrate-k<K>-s<seed>.h5, -<variant> appended)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="processes generating the data")
    p.add_argument("--train-seed", type=int, default=0)
    p.add_argument("--min-train-snr", type=float, default=None,
                   help="train only on frames at or above this SNR (a cheaper plateau-only check; the test set "
                   "is untouched, so accuracy below this SNR is then meaningless)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "calibrate-synth")
    return p.parse_args()


@command
def main() -> int:
    args = parse_args()
    import h5py
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.train_seed)
    config = VARIANTS[args.variant]
    suffix = "" if args.variant == "default" else f"-{args.variant}"
    data = args.data or ROOT / "data" / f"calibrate-k{args.frames_per_block}-s{args.seed}{suffix}.h5"
    ensure_data(data, args.frames_per_block, args.seed, args.workers, config)
    info = validate_file(data)
    with h5py.File(data, "r") as f:
        x = f["X"][:]
        y = f["Y"][:].argmax(1)
        z = f["Z"][:, 0]
    split = official_split(info.frames_per_block)
    train = filter_by_snr(split.train, z, args.min_train_snr)
    xtr, ytr = x[train], y[train]
    xte, yte, zte = x[split.test], y[split.test], z[split.test]
    t0 = time.perf_counter()
    model = train_proxy(xtr, ytr, xte, yte, args.epochs, args.batch_size, args.lr,
                        np.random.default_rng(args.train_seed))

    pred = predict(model, xte)
    ref = real_baseline_curve()
    per_snr = np.array([np.mean(pred[zte == s] == yte[zte == s]) for s in SNRS_DB])
    print(f"\nproxy on {data.name} ({info.frames_per_block} frames/block, {len(xtr)} train, {len(xte)} test), "
          f"{args.epochs} epochs, {time.perf_counter() - t0:.0f} s"
          + (f", trained on SNR >= {args.min_train_snr:g} dB only" if args.min_train_snr is not None else ""))
    print(f"overall: proxy {np.mean(pred == yte):.4f}   real baseline {REFERENCE_OVERALL:.4f}")
    print("SNR dB  proxy   real   diff")
    for s, a, r in zip(SNRS_DB, per_snr, ref):
        print(f"{s:6d}  {a:.3f}  {r:.3f}  {a - r:+.3f}")

    high = zte >= 10
    conf = np.zeros((N_CLASSES, N_CLASSES))
    np.add.at(conf, (yte[high], pred[high]), 1)
    rates = conf / conf.sum(1, keepdims=True)
    pairs = sorted(((rates[i, j], i, j) for i in range(N_CLASSES) for j in range(N_CLASSES) if i != j), reverse=True)
    print("\ntop confusions at SNR >= 10 dB (true -> predicted: share of the true class's frames)")
    for r, i, j in pairs[:12]:
        print(f"  {CLASSES[i]:>10s} -> {CLASSES[j]:<10s} {r:.3f}")
    per_class = np.diag(rates)
    low = (zte >= -12) & (zte <= -6)
    low_acc = [np.mean(pred[low & (yte == i)] == i) for i in range(N_CLASSES)]
    print("per-class accuracy at -12..-6 dB: " + ", ".join(f"{c} {a:.2f}" for c, a in zip(CLASSES, low_acc)))
    print("per-class accuracy at SNR >= 10 dB: " + ", ".join(f"{c} {a:.2f}" for c, a in zip(CLASSES, per_class)))

    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "data": str(data), "variant": args.variant, "config": json.loads(config.to_json()), "epochs": args.epochs,
        "frames_per_block": info.frames_per_block, "min_train_snr": args.min_train_snr, "overall": float(np.mean(pred == yte)),
        "per_snr": {int(s): float(a) for s, a in zip(SNRS_DB, per_snr)},
        "per_class_high_snr": {c: float(a) for c, a in zip(CLASSES, per_class)},
        "top_confusions_high_snr": [[CLASSES[i], CLASSES[j], float(r)] for r, i, j in pairs[:12]],
    }
    (args.out / "calibration.json").write_text(json.dumps(result, indent=2))
    plot(args.out / "accuracy_vs_snr.png", per_snr, data.name)
    print(f"\nwrote {args.out / 'calibration.json'} and {args.out / 'accuracy_vs_snr.png'}")
    return 0


def plot(path: Path, proxy: np.ndarray, data_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    draw_against_real(ax, SNRS_DB, proxy, f"proxy CNN on synthetic ({data_name})", "test accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

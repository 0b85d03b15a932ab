"""Can 8/16/32PSK be told apart in the synthetic frames at all? A classical answer, no CNN, no training set.

Computes model.synth.diagnostics.psk_order_statistics (|mean p^M| of the matched-filtered phase, M = 8, 16,
32) for frames of the three PSK orders and classifies them with a nearest-centroid rule fitted on half the
frames. High accuracy here while a CNN confuses the orders means the CNN lacks training data, not the
frames information.

    python -m research.psk_separability [--snr 10 20 30] [--variant default nomp ideal] [--frames 300]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from amc_cli import command
from model.synth import generate_frames
from model.synth.diagnostics import nearest_centroid_accuracy, psk_order_statistics
from model.synth.variants import VARIANTS

PSK = ("8PSK", "16PSK", "32PSK")


@command
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snr", type=float, nargs="+", default=[10.0, 20.0, 30.0], help="SNRs in dB")
    ap.add_argument("--variant", nargs="+", choices=sorted(VARIANTS), default=["default", "nomp", "ideal"])
    ap.add_argument("--frames", type=int, default=300, help="frames per PSK order and SNR")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print("| channel | SNR dB | 8/16/32PSK nearest-centroid accuracy | 8PSK | 16PSK | 32PSK |")
    print("|---|---|---|---|---|---|")
    for variant in args.variant:
        for snr in args.snr:
            rng = np.random.default_rng(args.seed)
            cfg = VARIANTS[variant]
            stats = np.concatenate([psk_order_statistics(generate_frames(c, snr, args.frames, rng, cfg),
                                                         samples_per_symbol=int(cfg.samples_per_symbol),
                                                         pulse=cfg.pulse_shape,
                                                         rolloff=float(np.mean(cfg.rolloff_range)))
                                    for c in PSK])
            labels = np.repeat(np.arange(len(PSK)), args.frames)
            per_class = nearest_centroid_accuracy(stats, labels)
            print(f"| {variant} | {snr:+.0f} | {per_class.mean():.3f} | " + " | ".join(f"{a:.2f}" for a in per_class)
                  + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

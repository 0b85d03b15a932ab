"""The one real RadioML 2018.01A frame (16QAM) beside synthetic 16QAM of generator variants: the statistics
that calibration rounds 3 and 4 compared (docs/synthetic-data.md).

    python -m research.real_frame_stats [--variant round2 round3 default] [--frames 64] [--snr 30] [--seed 0]

Per statistic: the real frame's value, then mean +- std over `--frames` synthetic frames of each variant
(model.synth.variants.VARIANTS) at `--snr` dB on that variant's channel. The real frame is
../shared/reference/real_frame_16qam.npy (the baseline's 8-bit input codes, x * 64; SNR not recorded).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from amc_cli import command
from model.synth import generate_frames
from model.synth.critic import reference_path
from model.synth.variants import VARIANTS

REAL_FRAME = "real_frame_16qam.npy"
INPUT_SCALE = 64.0
"""The file holds the baseline quantizer's 8-bit codes over [-2, 2): I/Q = code / 64."""
LAG = 4
"""Lag (samples) of the autocorrelation statistic: half a symbol at 8 samples per symbol."""
MAX_LAG = 20
"""The autocorrelation shape is compared over lags 0..MAX_LAG: past the first null at ~1 symbol, into its rebound."""


def statistics(z: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame statistics of complex frames z (F, N): one value per frame for each name."""
    power_spectrum = np.abs(np.fft.fft(z, axis=1)) ** 2
    freq = np.abs(np.fft.fftfreq(z.shape[1]))
    order = np.argsort(freq, kind="stable")
    cumulative = np.cumsum(power_spectrum[:, order], axis=1) / power_spectrum.sum(1, keepdims=True)
    power = np.mean(np.abs(z) ** 2, axis=1)
    envelope = np.abs(z)
    return {
        "50 % power within (cycles/sample)": freq[order][np.argmax(cumulative >= 0.5, axis=1)],
        "90 % power within": freq[order][np.argmax(cumulative >= 0.9, axis=1)],
        "power E|x|^2": power,
        "mean |x|": envelope.mean(1),
        "kurtosis E|x|^4 / (E|x|^2)^2": np.mean(envelope**4, axis=1) / power**2,
        "envelope std / mean": envelope.std(1) / envelope.mean(1),
        f"|R({LAG})| / R(0)": np.abs(np.mean(z[:, LAG:] * np.conj(z[:, :-LAG]), axis=1)) / power,
        "peak / mean power": envelope.max(1) ** 2 / power,
    }


def autocorrelation(z: np.ndarray) -> np.ndarray:
    """|R(k)| / R(0) for k = 0..MAX_LAG, per frame: (F, MAX_LAG + 1)."""
    r = np.stack([np.abs(np.mean(z[:, k:] * np.conj(z[:, : z.shape[1] - k]), axis=1)) for k in range(MAX_LAG + 1)], 1)
    return r / r[:, :1]


def real_frame() -> np.ndarray:
    codes = np.load(reference_path(REAL_FRAME)).astype(np.float64)[0] / INPUT_SCALE  # (2, 1024)
    return (codes[0] + 1j * codes[1])[None, :]


@command
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", nargs="+", default=["round2", "round3", "default"], choices=sorted(VARIANTS))
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--snr", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.frames < 2:
        p.error(f"--frames {args.frames}: need at least 2 frames for a spread")
    z_real = real_frame()
    real = statistics(z_real)
    acf_name = f"rms distance of |R(0..{MAX_LAG})| / R(0) from the real frame's"
    real[acf_name] = np.zeros(1)
    synthetic = {}
    for variant in args.variant:
        x = generate_frames("16QAM", args.snr, args.frames, np.random.default_rng(args.seed), VARIANTS[variant])
        z = x[..., 0].astype(np.float64) + 1j * x[..., 1]
        synthetic[variant] = statistics(z)
        synthetic[variant][acf_name] = np.sqrt(np.mean((autocorrelation(z) - autocorrelation(z_real)) ** 2, axis=1))
    print(f"16QAM: the real frame vs {args.frames} synthetic frames per variant at {args.snr:+g} dB (seed {args.seed})")
    print("| statistic | real frame | " + " | ".join(args.variant) + " |")
    print("|---" * (2 + len(args.variant)) + "|")
    for name, value in real.items():
        cells = [f"{synthetic[v][name].mean():.3f} +- {synthetic[v][name].std():.3f}" for v in args.variant]
        print(f"| {name} | {value[0]:.3f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

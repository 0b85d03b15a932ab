"""How high can a CNN go on the synthetic stand-in's high-SNR frames, and is it the data or the generator?

Trains the calibration proxy (model.synth.proxy, as research/calibrate_synth.py does) on high-SNR frames
only (+20/+24/+28 dB unless --snrs says otherwise), with N training frames per (class, SNR), and prints test
accuracy per epoch and per class. Comparing N, channel variants and networks tells whether a low plateau
comes from too little data, too small a network, or classes the generator makes inseparable.

    python -m research.plateau_synth --frames 800 [--variant default|round1|k0-20|nomp|ideal|round1-sps4]
                                       [--net proxy|vgg10-float] [--epochs 10] [--seed 0]

A learning curve of one confused group alone (the network still has 24 outputs; frames of the other classes
are neither trained on nor tested), cheap enough on a CPU to reach many more frames per class:

    python -m research.plateau_synth --classes 8PSK,16PSK,32PSK --frames 6400 --test-frames 400 --threads 2

The real file's count of near-noiseless frames (3686 training frames per class at each of +16..+30 dB):

    python -m research.plateau_synth --frames 3686 --snrs 16,18,20,22,24,26,28,30 --epochs 5 --threads 2
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from amc_cli import command
from model.radioml import CLASSES
from model.synth import class_index, generate_frames
from model.synth.proxy import NETS, predict, train_proxy
from model.synth.variants import VARIANTS

SNRS_DB = (20, 24, 28)
TEST_FRAMES = 30


def frames(n: int, snrs_db: tuple[int, ...], rng: np.random.Generator, cfg,
           classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for c in classes:
        for snr in snrs_db:
            xs.append(generate_frames(c, snr, n, rng, cfg))
            ys.append(np.full(n, c))
    return np.concatenate(xs), np.concatenate(ys)


def class_indices(text: str) -> tuple[int, ...]:
    """'8PSK,16PSK' -> their indices in the official class order (model.synth.class_index names the known ones)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no class name given")
    try:
        return tuple(sorted({class_index(n) for n in names}))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


@command
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200, help="training frames per (class, SNR)")
    ap.add_argument("--snrs", type=lambda t: tuple(int(v) for v in t.split(",")), default=SNRS_DB,
                    help="comma-separated SNRs in dB of the training and test frames (default 20,24,28)")
    ap.add_argument("--classes", type=class_indices, default=tuple(range(len(CLASSES))),
                    help="comma-separated class names to train and test on (default: all 24)")
    ap.add_argument("--test-frames", type=int, default=TEST_FRAMES, help="test frames per (class, SNR)")
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="default")
    ap.add_argument("--net", choices=sorted(NETS), default="proxy",
                    help="proxy: the small calibration CNN; vgg10-float: the baseline's layers without quantizers")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="seed of the frames and of the network's initial weights")
    args = ap.parse_args()
    import torch  # here, not at the top: --help and argument errors need no torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cfg = VARIANTS[args.variant]
    xtr, ytr = frames(args.frames, args.snrs, rng, cfg, args.classes)
    xte, yte = frames(args.test_frames, args.snrs, rng, cfg, args.classes)
    model = train_proxy(xtr, ytr, xte, yte, args.epochs, args.batch_size, args.lr, rng,
                        label=f"{args.net} {args.variant} N={args.frames} ", net=args.net)
    p = predict(model, xte)
    print("per class:", " ".join(f"{CLASSES[i]}:{(p[yte == i] == i).mean():.2f}" for i in args.classes))
    return 0


if __name__ == "__main__":
    sys.exit(main())

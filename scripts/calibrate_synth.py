"""Proxy calibration of the synthetic generator: train a small float CNN, compare its accuracy-vs-SNR curve
with the real baseline's (shared/reference/README.md) and list the main confusions at high SNR.

    python scripts/calibrate_synth.py --frames-per-block 128 --epochs 8

The proxy is a 7-block VGG-like 1-D CNN (32-64 filters) trained for minutes on CPU, far smaller in data and
training than the quantized VGG10 baseline; its curve is a guide to the data's difficulty, not a stand-in
for the baseline's. The data file is cached and rebuilt when the generator's configuration changes.

VARIANTS below are the generator's named settings: `default`, `round2` and `round1` (the defaults before
calibration rounds 3 and 2), round 3's steps, channel variants. scripts/critic_synth.py scores any of them
with networks trained on the real file (docs/synthetic-data.md), which round 3 calibrated against.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from amc_cli import command  # noqa: E402

from model.radioml import CLASSES, FRAME_LEN, N_CLASSES, SNRS_DB, validate_file  # noqa: E402
from model.split import filter_by_snr, official_split  # noqa: E402
from model.synth import DEFAULT_CONFIG  # noqa: E402
from model.synth.config import ROUND2_CONFIG, ROUND3_CONFIG  # noqa: E402
from model.synth.critic import REAL_BASELINE_OVERALL as REFERENCE_OVERALL  # noqa: E402,F401
from model.synth.critic import draw_against_real, real_baseline_curve  # noqa: E402

# The real baseline's accuracy per SNR (shared/reference/README.md) lives in model/synth/critic.py.

# The generator before calibration round 2: every synthetic figure measured before it was made on this.
ROUND1_CONFIG = dataclasses.replace(ROUND2_CONFIG, cfo_max=1e-4, rician_k_db_range=(0.0, 20.0))

# Calibration round 3 (docs/synthetic-data.md): the steps from round 2 to the default, one change each,
# each measured with the real-trained critics (scripts/critic_synth.py).
R3_STEPS = {
    "r3-1-rc": dict(pulse_shape="rc"),
    "r3-2-deviation": dict(frame_normalisation="deviation"),
    "r3-3-ssb-carrier": dict(ssb_carrier_range=ROUND3_CONFIG.ssb_carrier_range,
                             ssb_residual_carrier_range=ROUND3_CONFIG.ssb_residual_carrier_range),
    "r3-4-fm": dict(fm_message_bandwidth_range=ROUND3_CONFIG.fm_message_bandwidth_range,
                    fm_deviation_range=ROUND3_CONFIG.fm_deviation_range),
    "r3-5-rolloff": dict(rolloff_range=ROUND3_CONFIG.rolloff_range),
}


# Calibration round 4 (docs/synthetic-data.md): changes to round 3, each motivated by the critics' confusions,
# by the real 16QAM frame or by DeepSig's public generator, each measured with the critics
# (scripts/critic_synth.py). The kept ones, cumulative (the last is the default):
R4_STEPS = {
    # QAM and APSK at 9 samples per symbol: the real 16QAM frame's autocorrelation and bandwidths
    "r4-qam-apsk-sps9": dict(qam_apsk_samples_per_symbol=9.0),
    # the SNR label sets the noise's standard deviation over the full band (DeepSig's public 2016 generator)
    "r4-snr-amplitude": dict(snr_rule="amplitude", snr_bandwidth=1.0),
}
# Tried alone on round 3 and not kept:
R4_TRIED = {
    # the real frame's autocorrelation and bandwidths match ~9 samples per symbol at roll-off 0.35, not 8
    "r4-sps9": dict(samples_per_symbol=9.0),
    # AM's message as speech-band audio (~1-4 kHz at ~200 kS/s), as DeepSig's public generator took voice audio
    "r4-speech-band": dict(message_bandwidth_range=(0.005, 0.02)),
    # SNR over the whole sampled band (noise variance = signal power / SNR), GNU Radio's channel-model noise
    "r4-snr-fullband": dict(snr_bandwidth=1.0),
    # stronger direct path: Rician K 20-40 dB
    "r4-k20-40": dict(rician_k_db_range=(20.0, 40.0)),
    # no symbol-rate error
    "r4-no-rate-offset": dict(symbol_rate_offset_max=0.0),
}


def _cumulative(base, steps: dict) -> dict:
    out, changes = {}, {}
    for name, change in steps.items():
        changes.update(change)
        out[name] = dataclasses.replace(base, **changes)
    return out


VARIANTS = {
    "default": DEFAULT_CONFIG,
    "round3": ROUND3_CONFIG,
    "round2": ROUND2_CONFIG,
    "round1": ROUND1_CONFIG,
    **_cumulative(ROUND2_CONFIG, R3_STEPS),  # the last step is round 3
    **_cumulative(ROUND3_CONFIG, R4_STEPS),  # the last step is round 4, the default
    **{name: dataclasses.replace(ROUND3_CONFIG, **change) for name, change in R4_TRIED.items()},
    # channel changes tried against a PSK/APSK/QAM-order confusion (on the default's signal model)
    # round 2's carrier offset with round 1's heavy fading (Rician K 0-20 dB)
    "k0-20": dataclasses.replace(DEFAULT_CONFIG, rician_k_db_range=(0.0, 20.0)),
    "nomp": dataclasses.replace(DEFAULT_CONFIG, multipath_delays=(0,)),
    "ideal": dataclasses.replace(DEFAULT_CONFIG, cfo_max=0.0, multipath_delays=(0,), symbol_rate_offset_max=0.0),
    "round2-ideal": dataclasses.replace(ROUND2_CONFIG, cfo_max=0.0, multipath_delays=(0,),
                                        symbol_rate_offset_max=0.0),
    # not a channel change: twice the symbols per frame on round 1's channel, to see whether the PSK orders
    # were short of evidence; the multipath profile is rescaled to the same fraction of a symbol (3/8 -> 1/4)
    "round1-sps4": dataclasses.replace(ROUND1_CONFIG, samples_per_symbol=4.0, multipath_delays=(0, 1),
                                       multipath_decay_db_per_sample=6.0),
}


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


def ensure_data(path: Path, frames_per_block: int, seed: int, workers: int, config=DEFAULT_CONFIG) -> Path:
    """Reuse `path` if it was made with this seed, block size and generator config."""
    import h5py

    from model.synth import write_synthetic_file

    if path.exists():
        with h5py.File(path, "r") as f:
            same = (f.attrs.get("config") == config.to_json() and int(f.attrs.get("seed", -1)) == seed
                    and int(f.attrs.get("frames_per_block", -1)) == frames_per_block)
        if same:
            print(f"reusing {path}", file=sys.stderr)
            return path
    t0 = time.perf_counter()
    write_synthetic_file(path, frames_per_block, seed, progress=True, workers=workers, config=config)
    print(f"generated {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


# The networks the calibration can train, as (conv widths, dense widths): "proxy" is the small default;
# "vgg10-float" is the baseline's topology (7 x 64 filters, dense 128-128) without its quantizers, a
# CPU-affordable look at what the baseline's capacity does with the same frames.
NETS = {"proxy": ((32, 32, 64, 64, 64, 64, 64), (128,)), "vgg10-float": ((64,) * 7, (128, 128))}


def build_proxy(net: str = "proxy"):
    """[Conv1d k3, BN, ReLU, MaxPool 2] per conv width, then [Linear, BN, ReLU] per dense width, then 24 logits."""
    import torch.nn as nn

    conv, dense = NETS[net]
    layers, c_in = [], 2
    for c_out in conv:
        layers += [nn.Conv1d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(inplace=True),
                   nn.MaxPool1d(2)]
        c_in = c_out
    layers.append(nn.Flatten())
    n_in = c_in * FRAME_LEN // 2 ** len(conv)
    for n_out in dense:
        layers += [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU(inplace=True)]
        n_in = n_out
    return nn.Sequential(*layers, nn.Linear(n_in, N_CLASSES))


def predict(model, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(x[i : i + batch].transpose(0, 2, 1).copy())).argmax(1).numpy())
    return np.concatenate(out)


def train_proxy(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray, epochs: int,
                batch_size: int, lr: float, rng: np.random.Generator, label: str = "", net: str = "proxy"):
    """AdamW with a one-cycle schedule; prints test accuracy after each epoch; returns the model.
    Frames are (N, 1024, 2) float arrays in memory, labels integer class indices."""
    import torch

    steps = len(xtr) // batch_size
    if steps == 0:
        raise ValueError(f"{len(xtr)} training frames make no full batch of {batch_size}: "
                         "give it more training frames or a smaller --batch-size")
    model = build_proxy(net)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.15)
    labels = torch.from_numpy(np.asarray(ytr))
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(xtr))
        total = 0.0
        for b in range(steps):
            idx = order[b * batch_size : (b + 1) * batch_size]
            xb = torch.from_numpy(xtr[idx].transpose(0, 2, 1).copy())
            loss = torch.nn.functional.cross_entropy(model(xb), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        acc = float(np.mean(predict(model, xte) == yte))
        print(f"{label}epoch {epoch + 1}/{epochs}: loss {total / max(steps, 1):.3f} test acc {acc:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return model


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

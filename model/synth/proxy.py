"""The calibration proxy: a small float 1-D CNN trained for minutes on CPU on synthetic frames, whose
accuracy-vs-SNR curve is a guide to the data's difficulty (research/calibrate_synth.py,
research/plateau_synth.py), not a stand-in for the quantized baseline's.

    build_proxy(net)                       -> torch.nn.Sequential: (N, 2, 1024) I/Q -> 24 logits
    train_proxy(xtr, ytr, xte, yte, ...)   -> the trained network (test accuracy printed per epoch)
    predict(model, x)                      -> predicted class indices of (N, 1024, 2) frames
    ensure_data(path, frames_per_block, seed, workers, config)  -> a synthetic file cached by its settings

torch is imported inside the functions: importing this module needs none.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from model.radioml import FRAME_LEN, N_CLASSES
from model.synth.config import DEFAULT_CONFIG

# The networks the calibration can train, as (conv widths, dense widths): "proxy" is the small default;
# "vgg10-float" is the baseline's topology (7 x 64 filters, dense 128-128) without its quantizers, a
# CPU-affordable look at what the baseline's capacity does with the same frames.
NETS = {"proxy": ((32, 32, 64, 64, 64, 64, 64), (128,)), "vgg10-float": ((64,) * 7, (128, 128))}


def ensure_data(path: Path, frames_per_block: int, seed: int, workers: int, config=DEFAULT_CONFIG) -> Path:
    """Reuse `path` if it was made with this seed, block size and generator config; write it otherwise."""
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

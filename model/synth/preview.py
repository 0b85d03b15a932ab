"""A one-page picture of all 24 classes, so a person can see what the generator makes before training on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.radioml import CLASSES
from model.synth.config import DEFAULT_CONFIG, SynthConfig
from model.synth.frames import generate_frames

COLUMNS = 4  # classes per row; each class takes a constellation cell and a time-series cell
TIME_SAMPLES = 256  # 32 symbols at 8 samples per symbol: enough to see pulses and envelopes


def draw_preview(path: str | Path, snr_db: float = 30.0, seed: int = 0, config: SynthConfig = DEFAULT_CONFIG) -> Path:
    """Save a PNG with, per class, one frame's I/Q scatter and the first samples of its I and Q traces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"preview path {path} must end in .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = -(-len(CLASSES) // COLUMNS)
    fig, axes = plt.subplots(rows, 2 * COLUMNS, figsize=(4 * COLUMNS * 1.2, 2.0 * rows))
    for i, name in enumerate(CLASSES):
        frame = generate_frames(i, snr_db, 1, np.random.default_rng([seed, i]), config)[0]
        ax_c, ax_t = axes[i // COLUMNS, 2 * (i % COLUMNS)], axes[i // COLUMNS, 2 * (i % COLUMNS) + 1]
        ax_c.plot(frame[:, 0], frame[:, 1], ".", ms=1, alpha=0.5)
        ax_c.set_aspect("equal")
        ax_c.set_xlim(-2.5, 2.5)
        ax_c.set_ylim(-2.5, 2.5)
        ax_c.set_title(name, fontsize=9, loc="left")
        ax_t.plot(frame[:TIME_SAMPLES, 0], lw=0.6)
        ax_t.plot(frame[:TIME_SAMPLES, 1], lw=0.6)
        ax_t.set_ylim(-2.5, 2.5)
        for ax in (ax_c, ax_t):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"synthetic RadioML-like frames at {snr_db:g} dB (seed {seed}): I/Q scatter | first "
                 f"{TIME_SAMPLES} samples of I (blue) and Q (orange)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

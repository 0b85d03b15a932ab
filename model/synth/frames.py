"""generate_frames: the one entry point that turns (class, SNR, count, generator) into I/Q frames."""

from __future__ import annotations

import numbers

import numpy as np

from model.radioml import CLASSES, FRAME_LEN
from model.synth.channel import apply_channel
from model.synth.config import DEFAULT_CONFIG, SynthConfig
from model.synth.sources import baseband

CHUNK_FRAMES = 256
"""Frames generated at once: bounds the (frames x samples) temporaries to a few tens of MB."""


def class_index(mod: int | str) -> int:
    """Index into CLASSES of a class given by index or by name (case-insensitive); ValueError otherwise."""
    if isinstance(mod, str):
        by_name = {c.upper(): i for i, c in enumerate(CLASSES)}
        if mod.upper() not in by_name:
            raise ValueError(f"unknown modulation {mod!r}; expected one of {', '.join(CLASSES)}")
        return by_name[mod.upper()]
    if isinstance(mod, bool) or not isinstance(mod, numbers.Integral):
        raise TypeError(f"modulation must be a class index or name, got {type(mod).__name__} {mod!r}")
    if not 0 <= int(mod) < len(CLASSES):
        raise ValueError(f"modulation index {mod} out of range 0..{len(CLASSES) - 1}")
    return int(mod)


def generate_frames(
    mod: int | str,
    snr_db: float,
    n: int,
    rng: np.random.Generator,
    config: SynthConfig = DEFAULT_CONFIG,
) -> np.ndarray:
    """`n` frames of modulation `mod` (index into CLASSES or name) at `snr_db`, float32 (n, 1024, 2) I/Q.

    Every frame has unit average power (mean of I^2 + Q^2 is 1). The output depends only on `rng`'s state,
    so seeding `rng` makes it reproducible.
    """
    name = CLASSES[class_index(mod)]
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"n must be a non-negative integer number of frames, got {n!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    snr_db = float(snr_db)
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be finite, got {snr_db}")
    out = np.empty((int(n), FRAME_LEN, 2), dtype=np.float32)
    for start in range(0, int(n), CHUNK_FRAMES):
        count = min(CHUNK_FRAMES, int(n) - start)
        clean = baseband(name, rng, count, FRAME_LEN + config.max_delay, config)
        frames = apply_channel(rng, clean, snr_db, FRAME_LEN, config)
        out[start : start + count, :, 0] = frames.real
        out[start : start + count, :, 1] = frames.imag
    return out

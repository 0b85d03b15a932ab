"""Shared test fixtures: small files in the RadioML 2018 schema, and the tiny compile fixtures built once per
session (each build is shared by every test that asks for it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.radioml import FRAME_LEN, N_CLASSES, SNRS_DB


def write_toy_radioml(path: Path, frames_per_block: int, seed: int = 0) -> Path:
    """A file in the real schema whose classes are trivially separable tones (not the synthetic generator).

    Class c is a complex tone at frequency (c + 1) / 64 cycles per sample plus noise at the block's SNR,
    so a working training loop must beat chance on it within a few hundred steps.
    """
    import h5py

    rng = np.random.default_rng(seed)
    n = N_CLASSES * len(SNRS_DB) * frames_per_block
    t = np.arange(FRAME_LEN)
    with h5py.File(path, "w") as f:
        X = f.create_dataset("X", (n, FRAME_LEN, 2), dtype=np.float32)
        Y = f.create_dataset("Y", (n, N_CLASSES), dtype=np.int64)
        Z = f.create_dataset("Z", (n, 1), dtype=np.int64)
        i = 0
        for c in range(N_CLASSES):
            for snr in SNRS_DB:
                phase = rng.uniform(0, 2 * np.pi, (frames_per_block, 1))
                sig = np.exp(1j * (2 * np.pi * (c + 1) / 64 * t + phase))
                noise_std = np.sqrt(10 ** (-snr / 10) / 2)
                z = sig + noise_std * (rng.standard_normal(sig.shape) + 1j * rng.standard_normal(sig.shape))
                z /= np.sqrt((np.abs(z) ** 2).mean(axis=1, keepdims=True))
                s = slice(i, i + frames_per_block)
                X[s] = np.stack([z.real, z.imag], axis=-1).astype(np.float32)
                Y[s] = np.eye(N_CLASSES, dtype=np.int64)[c]
                Z[s] = snr
                i += frames_per_block
    return path


@pytest.fixture(scope="session")
def toy_h5(tmp_path_factory) -> Path:
    return write_toy_radioml(tmp_path_factory.mktemp("data") / "toy.h5", frames_per_block=10)


def _tiny_build(name: str):
    """A session fixture: the compile fixture `name` built once, shared by every test that asks for it."""

    @pytest.fixture(scope="session", name=f"{name}_build")
    def built(tmp_path_factory):
        from compile_support import build

        return build(tmp_path_factory.mktemp("builds"), name)

    return built


tiny_vgg_build = _tiny_build("tiny_vgg")
tiny_dsres_build = _tiny_build("tiny_dsres")
tiny_bacalhau_build = _tiny_build("tiny_bacalhau")
tiny_bacalhau_rq_build = _tiny_build("tiny_bacalhau_rq")

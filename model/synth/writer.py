"""write_synthetic_file: a RadioML-2018-schema HDF5 file, written block by block, complete or not at all."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from model.radioml import CLASSES, FRAME_LEN, N_BLOCKS, N_CLASSES, N_SNRS, SNRS_DB, block_start
from model.synth.config import DEFAULT_CONFIG, SynthConfig
from model.synth.frames import generate_frames

FORMAT = "amc-fpga-synthetic/1"


def block_rng(seed: int, mod: int, snr_idx: int) -> np.random.Generator:
    """The generator of one (modulation, SNR) block: depends on nothing else, so blocks can be made in any
    order or in parallel and the file is still the same bytes."""
    return np.random.default_rng([seed, mod, snr_idx])


def make_block(seed: int, mod: int, snr_idx: int, frames_per_block: int, config: SynthConfig) -> np.ndarray:
    return generate_frames(mod, SNRS_DB[snr_idx], frames_per_block, block_rng(seed, mod, snr_idx), config)


def _blocks(seed: int, frames_per_block: int, config: SynthConfig, workers: int) -> Iterator[np.ndarray]:
    """Blocks in file order; with workers > 1, at most 2 * workers are in flight so memory stays bounded."""
    order = [(m, s) for m in range(N_CLASSES) for s in range(N_SNRS)]
    if workers <= 1:
        for m, s in order:
            yield make_block(seed, m, s, frames_per_block, config)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: list[Future] = []
        for m, s in order:
            pending.append(pool.submit(make_block, seed, m, s, frames_per_block, config))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def _check_args(frames_per_block: int, seed: int, workers: int) -> None:
    for name, value, low in (("frames_per_block", frames_per_block, 1), ("seed", seed, 0), ("workers", workers, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def write_synthetic_file(
    path: str | Path,
    frames_per_block: int,
    seed: int = 0,
    progress: bool = True,
    *,
    workers: int = 1,
    config: SynthConfig = DEFAULT_CONFIG,
) -> Path:
    """Write 24 classes x 26 SNRs x `frames_per_block` frames to `path` in the real file's layout; return it.

    X (N, 1024, 2) float32, Y (N, 24) int64 one-hot, Z (N, 1) int64 SNR in dB, ordered by class (CLASSES
    order), then SNR (-20..30 dB). The file is written under a temporary name and renamed when complete, so an
    interrupted run never leaves a file that looks finished. Root attributes record how it was made.
    """
    _check_args(frames_per_block, seed, workers)
    import h5py
    from tqdm import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    k = int(frames_per_block)
    n = N_BLOCKS * k
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(
                format=FORMAT, synthetic=True, seed=int(seed), frames_per_block=k,
                classes=list(CLASSES), config=config.to_json(),
            )  # fmt: skip
            x = f.create_dataset("X", (n, FRAME_LEN, 2), dtype=np.float32)
            y = f.create_dataset("Y", (n, N_CLASSES), dtype=np.int64)
            z = f.create_dataset("Z", (n, 1), dtype=np.int64)
            blocks = _blocks(int(seed), k, config, int(workers))
            with tqdm(total=N_BLOCKS, desc=f"synthesising {path.name}", unit="block", disable=not progress) as bar:
                for (m, s), frames in zip(((m, s) for m in range(N_CLASSES) for s in range(N_SNRS)), blocks):
                    lo = block_start(m, s, k)
                    x[lo : lo + k] = frames
                    one_hot = np.zeros((k, N_CLASSES), dtype=np.int64)
                    one_hot[:, m] = 1
                    y[lo : lo + k] = one_hot
                    z[lo : lo + k] = SNRS_DB[s]
                    bar.update()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

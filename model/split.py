"""The challenge's official train/test split, reproduced index for index.

The challenge code seeds numpy's legacy generator with 2018 and, for each modulation and each SNR in
file order, shuffles the indices of that block and takes the first ceil(0.1 * 4096) = 410 as test.
On files with a smaller block (the synthetic ones) the same procedure runs on the block size the file
has, so a test frame there is chosen exactly as the challenge would have chosen it for that layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.radioml import N_CLASSES, N_SNRS, SNRS_DB, block_start

SPLIT_SEED = 2018
TEST_FRACTION = 0.1


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # int64 frame indices, in the order the challenge code produces them
    test: np.ndarray


def official_split(frames_per_block: int) -> Split:
    """Train and test indices for a file with `frames_per_block` frames per (modulation, SNR) block."""
    rng = np.random.RandomState(SPLIT_SEED)  # the same stream as np.random.seed(2018)
    n_test = math.ceil(TEST_FRACTION * frames_per_block)
    train, test = [], []
    for mod in range(N_CLASSES):
        for snr_idx in range(N_SNRS):
            start = block_start(mod, snr_idx, frames_per_block)
            block = np.arange(start, start + frames_per_block, dtype=np.int64)
            rng.shuffle(block)
            test.append(block[:n_test])
            train.append(block[n_test:])
    return Split(train=np.concatenate(train), test=np.concatenate(test))


def filter_by_snr(indices: np.ndarray, snr_db: np.ndarray, min_snr_db: float | None) -> np.ndarray:
    """Keep the indices whose frame SNR is at least `min_snr_db` (training only; never the test set)."""
    if min_snr_db is None:
        return indices
    if min_snr_db > max(SNRS_DB):
        raise ValueError(f"min SNR {min_snr_db} dB leaves no training frames (highest SNR is {max(SNRS_DB)} dB)")
    return indices[snr_db[indices] >= min_snr_db]

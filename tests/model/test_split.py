"""The official split must match the challenge's own code index for index."""

import hashlib
import math

import numpy as np
import pytest

from model.radioml import N_BLOCKS
from model.split import filter_by_snr, official_split

# Fingerprint of the challenge code's test index list (numpy legacy RandomState, seed 2018),
# as published in shared/reference/README.md.
OFFICIAL_TEST_SHA256 = "874296601fa7d746fa485104fd5d9efe43c16fa67c6a675b3a78f5bf2e65dc1f"


def test_full_size_split_matches_challenge_fingerprint():
    split = official_split(4096)
    assert len(split.test) == 255840
    assert len(split.train) == 2300064
    assert split.test[:5].tolist() == [2521, 2209, 3417, 1009, 1749]
    digest = hashlib.sha256(split.test.astype("<i8").tobytes()).hexdigest()
    assert digest == OFFICIAL_TEST_SHA256


@pytest.mark.parametrize("fpb", [1, 7, 10, 64])
def test_small_blocks_partition_every_frame(fpb):
    split = official_split(fpb)
    n_test = math.ceil(0.1 * fpb)
    assert len(split.test) == N_BLOCKS * n_test
    both = np.concatenate([split.train, split.test])
    assert np.array_equal(np.sort(both), np.arange(N_BLOCKS * fpb))
    # every block contributes its test frames from inside the block
    blocks = split.test.reshape(N_BLOCKS, n_test) // fpb
    assert np.array_equal(blocks, np.repeat(np.arange(N_BLOCKS)[:, None], n_test, axis=1))


def test_snr_filter_applies_to_training_indices_only():
    snr = np.array([-20, -6, 0, 10])
    idx = np.arange(4)
    assert filter_by_snr(idx, snr, -6).tolist() == [1, 2, 3]
    assert filter_by_snr(idx, snr, None).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        filter_by_snr(idx, snr, 40)

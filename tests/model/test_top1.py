"""Top-1 with ties to the lowest class: the one rule the software evaluation and the driver share."""

import numpy as np

from driver.frontend import top1 as driver_top1
from model.metrics import top1


def test_exact_and_float_rounded_ties_go_to_the_lowest_class():
    scale = np.float32(0.0371)
    acc = np.array([[3, 7, 7, 1], [5, 2, 5, 5], [0, 0, 0, 0], [-4, -9, -2, -2]])
    exact = acc * scale
    # the same integers through a different float path: ties survive only up to rounding
    rounded = (acc.astype(np.float32) * scale + np.float32(0.1)) - np.float32(0.1)
    for logits in (exact, rounded):
        assert top1(logits).tolist() == [1, 0, 0, 2]


def test_a_real_difference_of_one_quantization_step_is_not_a_tie():
    scale = 1e-3  # an accumulator of 2^14 steps is still resolved at rtol 1e-5
    logits = np.array([[10 * scale, 11 * scale], [2**14 * scale, (2**14 + 1) * scale]])
    assert top1(logits).tolist() == [1, 1]


def test_driver_applies_the_same_rule():
    rng = np.random.default_rng(0)
    logits = rng.integers(-8, 8, size=(2000, 24)) * np.float32(0.05)  # many exact ties
    logits = logits + rng.normal(0, 1e-7, size=logits.shape)  # float noise on top
    assert np.array_equal(top1(logits), driver_top1(logits))
    assert (top1(logits) != logits.argmax(1)).any()  # the noise alone would have broken ties elsewhere

"""The calibration proxy behind scripts/calibrate_synth.py and scripts/plateau_synth.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from model.radioml import FRAME_LEN, N_CLASSES

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "calibrate_synth.py"


@pytest.fixture(scope="module")
def calibrate():
    spec = importlib.util.spec_from_file_location("calibrate_synth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("net", ["proxy", "vgg10-float"])
def test_proxy_nets_map_a_frame_batch_to_class_logits(calibrate, net):
    model = calibrate.build_proxy(net).eval()
    assert model(torch.zeros(3, 2, FRAME_LEN)).shape == (3, N_CLASSES)


def test_training_on_less_than_one_batch_says_what_to_change(calibrate):
    x = np.zeros((5, FRAME_LEN, 2), np.float32)
    y = np.zeros(5, np.int64)
    with pytest.raises(ValueError, match="no full batch of 8.*--batch-size"):
        calibrate.train_proxy(x, y, x, y, epochs=1, batch_size=8, lr=1e-3, rng=np.random.default_rng(0))


def test_calibration_data_follows_the_chosen_variant(calibrate, tmp_path, capsys):
    import h5py

    path = tmp_path / "calibrate.h5"
    calibrate.ensure_data(path, 1, 0, 1, calibrate.VARIANTS["round1"])
    with h5py.File(path, "r") as f:
        assert f.attrs["config"] == calibrate.VARIANTS["round1"].to_json()
    capsys.readouterr()
    calibrate.ensure_data(path, 1, 0, 1, calibrate.VARIANTS["round1"])
    assert "reusing" in capsys.readouterr().err
    calibrate.ensure_data(path, 1, 0, 1)  # the default generator: the round-1 file must not be reused
    assert "reusing" not in capsys.readouterr().err
    with h5py.File(path, "r") as f:
        assert f.attrs["config"] == calibrate.DEFAULT_CONFIG.to_json()

"""The calibration proxy (model.synth.proxy) behind research/calibrate_synth.py and research/plateau_synth.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.radioml import FRAME_LEN, N_CLASSES
from model.synth import DEFAULT_CONFIG
from model.synth.proxy import build_proxy, ensure_data, train_proxy
from model.synth.variants import VARIANTS


@pytest.mark.parametrize("net", ["proxy", "vgg10-float"])
def test_proxy_nets_map_a_frame_batch_to_class_logits(net):
    model = build_proxy(net).eval()
    assert model(torch.zeros(3, 2, FRAME_LEN)).shape == (3, N_CLASSES)


def test_training_on_less_than_one_batch_says_what_to_change():
    x = np.zeros((5, FRAME_LEN, 2), np.float32)
    y = np.zeros(5, np.int64)
    with pytest.raises(ValueError, match="no full batch of 8.*--batch-size"):
        train_proxy(x, y, x, y, epochs=1, batch_size=8, lr=1e-3, rng=np.random.default_rng(0))


def test_calibration_data_follows_the_chosen_variant(tmp_path, capsys):
    import h5py

    path = tmp_path / "calibrate.h5"
    ensure_data(path, 1, 0, 1, VARIANTS["round1"])
    with h5py.File(path, "r") as f:
        assert f.attrs["config"] == VARIANTS["round1"].to_json()
    capsys.readouterr()
    ensure_data(path, 1, 0, 1, VARIANTS["round1"])
    assert "reusing" in capsys.readouterr().err
    ensure_data(path, 1, 0, 1)  # the default generator: the round-1 file must not be reused
    assert "reusing" not in capsys.readouterr().err
    with h5py.File(path, "r") as f:
        assert f.attrs["config"] == DEFAULT_CONFIG.to_json()

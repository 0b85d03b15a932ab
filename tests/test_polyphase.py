"""Several I/Q samples per clock (issue 16): `ours` with a polyphase stem, the view moved to the host by
compile/, the input DMA's bandwidth, and the driver and the RTL simulation feeding P samples per beat."""
from __future__ import annotations

import json

import numpy as np
import pytest
from compile_support import FIXTURES, build

from amc_cli.paths import REPO_ROOT
from compile.runner import artefact_path

P_FIXTURE = 4  # tiny_polyphase (scripts/make_compile_fixtures.py) takes 4 samples per step


# ---- the view itself ------------------------------------------------------------------------------
def test_ours_polyphase_keeps_every_block_length_and_p1_is_todays_network():
    import torch

    from compile.transforms.inputview import polyphase_view as host_view
    from model.nets.ours import Ours, polyphase_strides, polyphase_view

    x = torch.randn(2, 2, 1024)
    np.testing.assert_array_equal(polyphase_view(x, 8).numpy(), host_view(x.numpy(), 8))  # the graph's = the host's
    today = Ours()
    assert polyphase_strides(1, (2, 2, 2, 2, 2), 1024) == [2, 2, 2, 2, 2]
    assert polyphase_strides(8, (2, 2, 2, 2, 2), 1024) == [1, 1, 1, 2, 2]
    for p in (1, 2, 4, 8):
        net = Ours(polyphase=p).eval()
        assert net.pool.kernel_size == today.pool.kernel_size  # same length before the global pool
        stem = net.features[0]
        assert stem.in_channels == 2 * p and stem.kernel_size[0] * p >= 27  # spans the depthwise kernel
        assert net(x).shape == (2, 24)
    assert [type(m) for m in Ours(polyphase=1).modules()] == [type(m) for m in today.modules()]
    with pytest.raises(ValueError, match="power of two"):
        Ours(polyphase=3)
    with pytest.raises(ValueError, match="more than the network's total decimation"):
        Ours(polyphase=64)


# ---- compile: the view on the host, P samples per beat ---------------------------------------------
@pytest.fixture(scope="module")
def poly_build(tmp_path_factory):
    return build(tmp_path_factory.mktemp("poly"), "tiny_polyphase")


def test_the_build_moves_the_view_to_the_host_and_streams_p_samples_per_beat(poly_build):
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, result = poly_build
    assert all(r["verification"]["passed"] for r in result["steps"])  # every step against the QONNX model
    first = ModelWrapper(str(artefact_path(cfg, "detach_input_quant")))
    assert first.get_tensor_shape(first.graph.input[0].name) == [1, 2 * P_FIXTURE, 1024 // P_FIXTURE]
    assert not first.get_nodes_by_op_type("Reshape")
    acc = json.loads((cfg.out_dir / "accelerator.json").read_text())
    assert acc["input"]["polyphase"] == P_FIXTURE
    assert acc["input"]["accelerator_shape"][-1] == 2 * P_FIXTURE
    rep = json.loads((cfg.out_dir / "report.json").read_text())
    assert rep["throughput"]["input_samples_per_beat"] == P_FIXTURE
    # the fastest folding goes below one sample per clock's floor of 1024 cycles per frame
    assert rep["throughput"]["cycles_per_frame"] < 1024 // 2
    dma = rep["input_bandwidth"]
    assert dma["bytes_per_frame"] == 2048 and dma["cycles_per_frame"] == 2048 * 8 // 128
    assert not dma["limits"]


def test_a_narrow_input_dma_is_named_as_the_bottleneck(poly_build):
    from qonnx.core.modelwrapper import ModelWrapper

    from compile.report import input_bandwidth

    cfg, _ = poly_build
    acc = ModelWrapper(str(artefact_path(cfg, "estimate_reports")))
    wide = input_bandwidth(acc, 128, 250e6, 300)
    narrow = input_bandwidth(acc, 32, 250e6, 300)
    assert not wide["limits"] and narrow["limits"]
    assert narrow["cycles_per_frame"] == 2048 * 8 // 32
    assert narrow["needed_bytes_per_s"] == pytest.approx(narrow["dma_bytes_per_s"])  # it runs at the DMA's rate


def test_a_board_file_with_a_bad_dma_width_is_refused(tmp_path):
    from compile.boards import load_board

    text = (REPO_ROOT / "hw" / "boards" / "zcu104.yaml").read_text()
    assert load_board("zcu104").input_dma_bits == 128
    bad = tmp_path / "b.yaml"
    bad.write_text(text.replace("input_dma_bits: 128", "input_dma_bits: 12"))
    with pytest.raises(ValueError, match="input_dma_bits"):
        load_board(bad)


def test_the_driver_packs_p_samples_per_beat_as_the_build_verified(poly_build):
    """The driver's accelerator input (polyphase rows, then host.pre) equals what the build's verifier
    fed the accelerator, frame for frame."""
    from driver.meta import ModelIO

    cfg, _ = poly_build
    io = ModelIO.load(cfg.out_dir / "accelerator.json", FIXTURES / "tiny_polyphase" / "io.json")
    ref = np.load(cfg.verify_dir / "reference.npz")
    codes = ref["codes"]
    x = io.accelerator_input(codes)
    want = codes.transpose(0, 2, 1).reshape(len(codes), *io.accel_in_shape[1:])
    np.testing.assert_array_equal(x, want)


@pytest.mark.slow
def test_the_stitched_polyphase_accelerator_is_bit_exact_at_p_samples_per_clock(poly_build, tmp_path):
    from compile_support import copy_build

    from compile.rtlsim.accelerator import simulate_accelerator

    cfg = copy_build(poly_build[0], tmp_path)
    sec = simulate_accelerator(cfg, frames=4, size_fifos=False, log=lambda m: None)
    assert sec["bit_exact"]
    est = sec["estimate"]["cycles_per_frame"]
    assert sec["cycles_per_frame"] < 1024 / 2  # more than two samples per clock, measured
    assert sec["cycles_per_frame"] == pytest.approx(est, rel=0.1)

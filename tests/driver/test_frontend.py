"""The RadioML front end against the numbers the compile build recorded."""
import json

import numpy as np
import pytest

from conftest import FIXTURES, official_split_size, write_toy_h5
from driver.frontend import DataError, FrameSet, read_blocks, top1
from driver.meta import InputQuant, MetadataError, ModelIO


def _io(build):
    return ModelIO.load(build / "accelerator.json", FIXTURES / "tiny_vgg" / "io.json")


def test_codes_equal_the_reference_codes_the_build_stored(tiny_build):
    ref = np.load(tiny_build / "verify" / "reference.npz")
    io = _io(tiny_build)
    codes = io.codes(ref["frames"])
    assert np.array_equal(codes, ref["codes"])
    assert codes.min() == -128 and codes.max() == 127  # the reference frames exercise clipping


def test_quantizer_numbers_come_from_io_json_and_round_half_to_even_in_float32():
    q = InputQuant.from_dict({"bit_width": 8, "signed": True, "narrow": False, "scale": 0.25, "zero_point": 0}, "t")
    x = np.array([0.125, 0.375, -0.125, -0.375, 0.3749, 100.0, -100.0], np.float32)
    assert q.quantize(x).tolist() == [0, 2, 0, -2, 1, 127, -128]
    u = InputQuant.from_dict({"bit_width": 4, "signed": False, "narrow": True, "scale": 0.5, "zero_point": 3}, "t")
    assert u.quantize(np.array([-10, 0, 1.0, 10], np.float32)).tolist() == [0, 3, 5, 14]
    # float32 as PyTorch: find inputs near rounding ties where float32 and float64 division disagree;
    # the driver must follow float32 (a float64 implementation fails here)
    s = InputQuant.from_dict({"bit_width": 8, "signed": True, "narrow": False, "scale": 0.1, "zero_point": 0}, "t")
    base = (np.arange(-120, 120) + 0.5).astype(np.float32) * np.float32(0.1)
    cand = np.concatenate([np.nextafter(base, np.float32(np.inf)), base, np.nextafter(base, np.float32(-np.inf))])
    f32 = np.rint(cand / np.float32(0.1))
    f64 = np.rint(cand.astype(np.float64) / 0.1)
    differ = cand[f32 != f64]
    assert len(differ) > 0
    assert s.quantize(differ).tolist() == np.rint(differ / np.float32(0.1)).tolist()
    assert s.quantize(differ).tolist() != np.rint(differ.astype(np.float64) / 0.1).tolist()

def test_accelerator_input_layout_and_post_ops_reproduce_the_builds_reference_logits(tiny_build):
    io = _io(tiny_build)
    ref = np.load(tiny_build / "verify" / "reference.npz")
    x = io.accelerator_input(ref["codes"])
    assert x.shape == (len(ref["codes"]), *io.accel_in_shape[1:]) == (4, 1024, 1, 2)
    assert np.array_equal(x[:, :, 0, :], ref["codes"].transpose(0, 2, 1))  # NCW -> channels last
    golden = np.load(tiny_build / "verify" / "golden_partition.npz")["int_out"]
    logits = io.logits(golden)
    assert np.abs(logits - ref["logits"]).max() < 1e-5
    assert np.array_equal(top1(logits), top1(ref["logits"]))


def test_io_json_and_accelerator_json_must_agree(tiny_build, tmp_path):
    io = json.loads((FIXTURES / "tiny_vgg" / "io.json").read_text())
    io["input"]["quant"]["scale"] = 0.03125
    (tmp_path / "io.json").write_text(json.dumps(io))
    with pytest.raises(MetadataError, match="differs from the one the build was compiled with"):
        ModelIO.load(tiny_build / "accelerator.json", tmp_path / "io.json")
    io["input"]["quant"]["scale"] = 0.015625
    io["input"]["quant"]["bit_width"] = 6
    (tmp_path / "io.json").write_text(json.dumps(io))
    with pytest.raises(MetadataError, match="input quantizer"):
        ModelIO.load(tiny_build / "accelerator.json", tmp_path / "io.json")


def test_frames_of_another_shape_are_refused(tiny_build, tmp_path):
    io = _io(tiny_build)
    with pytest.raises(MetadataError, match=r"the model takes \(N, 2, 1024\)"):
        io.codes(np.zeros((3, 2, 512), np.float32))
    short = write_toy_h5(tmp_path / "short.h5", frames_per_block=1, frame_len=512)
    with pytest.raises(DataError, match="frames of 512 samples, the model takes 1024"):
        next(read_blocks(short, np.arange(4), io.frame_shape))
    with pytest.raises(MetadataError, match="are not INT8"):
        io.accelerator_input(np.full((1, 2, 1024), 300.0, np.float32))


def test_official_split_and_subsets(toy_h5):
    fs = FrameSet.official_test_split(toy_h5)
    assert len(fs) == official_split_size(2) == 624
    fpb = 2
    assert np.array_equal(fs.index // fpb // 26, fs.label) and np.all(np.bincount(fs.index // fpb) == 1)
    again = FrameSet.official_test_split(toy_h5)
    assert np.array_equal(fs.index, again.index)  # seeded
    sub = fs.subset(per_block=1, snrs=[30, -20])
    assert len(sub) == 48 and set(sub.snr_db.tolist()) == {30, -20} and "first 1 per (class, SNR)" in sub.description
    with pytest.raises(DataError, match="leaves no frames"):
        fs.subset(snrs=[31])


def test_blocks_return_the_requested_frames_in_any_order(toy_h5):
    import h5py

    idx = np.array([700, 3, 4, 5, 1200, 6, 3, 1000])
    with h5py.File(toy_h5) as f:
        want = np.asarray(f["X"])[idx].transpose(0, 2, 1)
    got = np.zeros_like(want)
    for block in (2, 3, 100):  # dense and sparse reads, several blocks, a duplicate index
        got[:] = 0
        for pos, x in read_blocks(toy_h5, idx, (2, 1024), block_frames=block):
            got[pos] = x
        assert np.array_equal(got, want)
    with pytest.raises(DataError, match="out of range"):
        next(read_blocks(toy_h5, np.array([10**6]), (2, 1024)))

"""Schema validation, the compact cache and the prepared splits, on small files of the real layout."""

import h5py
import numpy as np
import pytest

from conftest import write_toy_radioml
from model.cache import encode, open_cache
from model.config import DataConfig
from model.data import choose_encoding, prepare_data
from model.export import on_input_grid
from model.radioml import N_BLOCKS, DatasetError, validate_file

Q8 = {"bit_width": 8, "signed": True, "scale": 1 / 64, "zero_point": 0.0, "min_code": -128, "max_code": 127}


def test_valid_file_reports_its_block_size(toy_h5):
    info = validate_file(toy_h5)
    assert (info.n_frames, info.frames_per_block, info.is_full_size) == (N_BLOCKS * 10, 10, False)


def _copy_with(src, dst, **replace):
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for key in ("X", "Y", "Z"):
            if key in replace:
                if replace[key] is not None:
                    g[key] = replace[key]
            else:
                g[key] = f[key][...]
    return dst


@pytest.mark.parametrize("case,match", [
    ("missing", "no such file"),
    ("junk", "not an HDF5 file"),
    ("no_y", r"missing dataset\(s\) \['Y'\]"),
    ("shape", r"X has shape \(6240, 2, 1024\)"),
    ("count", "not a positive multiple of 24 classes x 26 SNRs"),
    ("order", "must be ordered by modulation, then SNR"),
])
def test_schema_errors_say_what_is_wrong(toy_h5, tmp_path, case, match):
    with h5py.File(toy_h5, "r") as f:
        X, Y, Z = f["X"][...], f["Y"][...], f["Z"][...]
    path = tmp_path / f"{case}.h5"
    if case == "junk":
        path.write_bytes(b"this is not hdf5")
    elif case == "no_y":
        _copy_with(toy_h5, path, Y=None)
    elif case == "shape":
        _copy_with(toy_h5, path, X=np.swapaxes(X, 1, 2))
    elif case == "count":
        _copy_with(toy_h5, path, X=X[:-1], Y=Y[:-1], Z=Z[:-1])
    elif case == "order":
        _copy_with(toy_h5, path, Y=Y[::-1].copy())
    with pytest.raises(DatasetError, match=match):
        validate_file(path)


def test_nan_frame_is_named_and_no_partial_cache_is_left(toy_h5, tmp_path):
    with h5py.File(toy_h5, "r") as f:
        X = f["X"][...]
    X[1234, 5, 0] = np.nan
    bad = _copy_with(toy_h5, tmp_path / "nan.h5", X=X)
    with pytest.raises(DatasetError, match="frame 1234 .* holds NaN"):
        open_cache(bad, tmp_path / "cache", "int8", progress=False)
    assert not any((tmp_path / "cache").iterdir())


def test_int8_cache_is_exactly_the_8bit_input_quantizers_grid(toy_h5, tmp_path):
    cache = open_cache(toy_h5, tmp_path / "cache", "int8", progress=False)
    idx = np.array([0, 17, 999, len(cache) - 1])
    with h5py.File(toy_h5, "r") as f:
        raw = np.swapaxes(f["X"][np.sort(idx)], 1, 2)
    assert np.array_equal(cache.frames(idx), on_input_grid(raw, Q8))
    assert cache.x.dtype == np.int8 and cache.labels.dtype == np.uint8 and cache.snr_db.dtype == np.int8
    assert cache.labels[0] == 0 and cache.snr_db[0] == -20 and cache.labels[-1] == 23 and cache.snr_db[-1] == 30


def test_float32_cache_is_lossless_and_a_changed_source_rebuilds(tmp_path):
    src = write_toy_radioml(tmp_path / "a.h5", frames_per_block=2, seed=1)
    c1 = open_cache(src, tmp_path / "cache", "float32", progress=False)
    before = c1.frames(np.arange(5))
    with h5py.File(src, "r") as f:
        assert np.array_equal(before, np.swapaxes(f["X"][:5], 1, 2))
    write_toy_radioml(src, frames_per_block=2, seed=2)  # same name, new content
    c2 = open_cache(src, tmp_path / "cache", "float32", progress=False)
    assert c2.directory != c1.directory and not c1.directory.exists()  # the stale cache is gone
    assert not np.array_equal(before, c2.frames(np.arange(5)))


def test_encode_rejects_unknown_encodings():
    with pytest.raises(ValueError, match="unknown cache encoding"):
        encode(np.zeros((1, 1024, 2), np.float32), "int4")


def test_auto_encoding_is_int8_only_when_lossless():
    assert choose_encoding("auto", {"bit_width": 8, "signed": True, "scale": 1 / 64, "zero_point": 0.0}) == "int8"
    assert choose_encoding("auto", {"bit_width": 8, "signed": True, "scale": 5 / 256, "zero_point": 0.0}) == "float32"
    assert choose_encoding("auto", {"bit_width": 6, "signed": True, "scale": 1 / 16, "zero_point": 0.0}) == "float32"
    assert choose_encoding("auto", None) == "float32"
    assert choose_encoding("float16", None) == "float16"


def test_prepared_splits_are_disjoint_and_the_snr_filter_spares_the_test_set(toy_h5, tmp_path):
    cfg = DataConfig(path=str(toy_h5), cache_dir=str(tmp_path / "cache"), train_min_snr_db=-6, val_fraction=0.1)
    data = prepare_data(cfg, Q8, progress=False)
    snr = np.asarray(data.cache.snr_db)
    assert snr[data.train].min() == -6
    assert snr[data.test].min() == -20 and len(data.test) == N_BLOCKS * 1  # ceil(0.1 * 10) per block
    assert snr[data.val].min() == -20  # validation mirrors the test distribution
    assert not set(data.train) & set(data.test) and not set(data.val) & set(data.test)
    assert not set(data.train) & set(data.val)
    assert data.kind == "radioml-schema" and data.describe()["cache_encoding"] == "int8"
    assert "synthetic_generator" not in data.describe()


def test_a_synthetic_file_from_an_older_generator_is_named_when_reused(toy_h5, tmp_path, capsys):
    import dataclasses
    import json

    from model.data import ensure_data_file, stale_generator_fields
    from model.synth import DEFAULT_CONFIG, write_synthetic_file

    current, older = tmp_path / "current.h5", tmp_path / "older.h5"
    write_synthetic_file(current, 1, seed=0)
    write_synthetic_file(older, 1, seed=0, config=dataclasses.replace(DEFAULT_CONFIG, cfo_max=1e-4))
    assert stale_generator_fields(current) == [] and stale_generator_fields(toy_h5) == []
    assert stale_generator_fields(older) == [f"cfo_max=0.0001 (now {DEFAULT_CONFIG.cfo_max})"]

    assert prepare_data(DataConfig(path=str(current), cache_dir=str(tmp_path / "cache")), Q8,
                        progress=False).describe()["synthetic_generator"] == json.loads(DEFAULT_CONFIG.to_json())
    assert ensure_data_file(DataConfig(path=str(older))) == older  # reused, never deleted behind the user
    assert "cfo_max=0.0001" in capsys.readouterr().err and older.exists()
    ensure_data_file(DataConfig(path=str(current)))
    assert "older synthetic-generator settings" not in capsys.readouterr().err

"""The data cache proves its content: whole-file source identity, per-array checksums, rebuilds with a
notice, refusal when it cannot be rebuilt, and one build among concurrent builders."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import time

import h5py
import numpy as np
import pytest
from conftest import write_toy_radioml

import model.cache as cache_mod
from model.cache import CacheError, open_cache, source_identity
from model.radioml import DatasetError


@pytest.fixture
def src(tmp_path):
    return write_toy_radioml(tmp_path / "toy.h5", frames_per_block=2, seed=3)


def _notice(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[cache]")]
    assert len(lines) == 1, lines
    return lines[0]


def _expected(path):
    with h5py.File(path) as f:
        x = np.clip(np.rint(np.swapaxes(f["X"][...], 1, 2) * 64), -128, 127).astype(np.int8)
        return x, f["Y"][...].argmax(axis=1).astype(np.uint8), f["Z"][...].reshape(-1).astype(np.int8)


def _settle(monkeypatch):
    """Trust stats at once (not RACY_NS after a write), so the stat records are used within a fast test;
    the sleeps that follow put a write in a later timestamp tick than the stat recorded before it."""
    monkeypatch.setattr(cache_mod, "RACY_NS", 0)
    time.sleep(0.05)


def test_labels_altered_in_place_are_rebuilt_never_used(src, tmp_path, capsys):
    c = open_cache(src, tmp_path / "cache", progress=False)
    x, labels, snrs = _expected(src)
    directory = c.directory
    size = (directory / "labels.npy").stat().st_size
    del c
    m = np.load(directory / "labels.npy", mmap_mode="r+")
    m[:] = (m + 1) % 24  # every label wrong, the file's size unchanged
    m.flush()
    del m
    again = open_cache(src, tmp_path / "cache", progress=False)
    assert (again.directory / "labels.npy").stat().st_size == size
    notice = _notice(capsys)
    assert str(again.directory) in notice and "labels.npy does not match" in notice
    assert np.array_equal(np.asarray(again.labels), labels) and np.array_equal(np.asarray(again.x), x)


@pytest.mark.parametrize("settled", [False, True], ids=["just-built", "stat-recorded"])
def test_frames_zeroed_in_place_are_detected(src, tmp_path, capsys, monkeypatch, settled):
    if settled:
        _settle(monkeypatch)
    c = open_cache(src, tmp_path / "cache", progress=False)
    directory = c.directory
    del c
    if settled:  # the zeros go in after the frames' stat was recorded as verified
        assert "x.npy" in cache_mod._checked(directory)["arrays"]
        time.sleep(0.05)
    m = np.load(directory / "x.npy", mmap_mode="r+")
    m[: len(m) // 2] = 0
    m.flush()
    del m
    again = open_cache(src, tmp_path / "cache", progress=False)
    assert "x.npy does not match" in _notice(capsys)
    assert np.array_equal(np.asarray(again.x), _expected(src)[0])


def test_frames_are_hashed_only_when_their_stat_changed(src, tmp_path, monkeypatch):
    _settle(monkeypatch)
    open_cache(src, tmp_path / "cache", progress=False)
    hashed = []
    real = cache_mod.file_digest
    monkeypatch.setattr(cache_mod, "file_digest", lambda p, *a, **k: hashed.append(p.name) or real(p, *a, **k))
    c = open_cache(src, tmp_path / "cache", progress=False)
    assert hashed == ["labels.npy", "snr_db.npy"]  # neither the source nor the frames: their stats are recorded
    hashed.clear()
    time.sleep(0.05)
    os.utime(c.directory / "x.npy")  # a new stat: hashed again, found intact, no rebuild
    open_cache(src, tmp_path / "cache", progress=False)
    assert hashed == ["labels.npy", "snr_db.npy", "x.npy"]


def test_truncated_frames_are_rebuilt_with_a_notice_naming_the_folder(src, tmp_path, capsys):
    c = open_cache(src, tmp_path / "cache", progress=False)
    directory = c.directory
    del c
    os.truncate(directory / "x.npy", (directory / "x.npy").stat().st_size - 2048)
    again = open_cache(src, tmp_path / "cache", progress=False)
    notice = _notice(capsys)
    assert notice.startswith(f"[cache] {directory}: x.npy is ") and "truncated" in notice
    assert np.array_equal(np.asarray(again.x), _expected(src)[0])


@pytest.mark.parametrize("damage, fault", [
    (lambda d: (d / "meta.json").unlink(), "meta.json is missing"),
    (lambda d: (d / "meta.json").write_text("{not json"), "meta.json is missing or unreadable"),
    (lambda d: (d / "snr_db.npy").unlink(), "snr_db.npy is missing"),
    (lambda d: (d / "snr_db.npy").write_bytes(b"\x93NUMPY garbage"), "no readable .npy header"),
    (lambda d: open(d / "labels.npy", "ab").write(b"\0"), "labels.npy is"),
])
def test_other_damage_is_named_and_rebuilt(src, tmp_path, capsys, damage, fault):
    directory = open_cache(src, tmp_path / "cache", progress=False).directory
    damage(directory)
    again = open_cache(src, tmp_path / "cache", progress=False)
    assert fault in _notice(capsys)
    assert all(np.array_equal(np.asarray(a), b) for a, b in zip((again.x, again.labels, again.snr_db), _expected(src)))


def test_a_damaged_cache_whose_source_is_gone_is_refused_naming_it(src, tmp_path, monkeypatch):
    c = open_cache(src, tmp_path / "cache", progress=False)
    (c.directory / "labels.npy").write_bytes((c.directory / "labels.npy").read_bytes()[:-1] + b"\x07")
    real = cache_mod._fault

    def source_vanishes(*args):  # the source is deleted after it was identified, before the rebuild
        fault = real(*args)
        if fault is not None:
            src.unlink(missing_ok=True)
        return fault

    monkeypatch.setattr(cache_mod, "_fault", source_vanishes)
    with pytest.raises(CacheError, match=f"{c.directory}.*labels.npy does not match.*cannot be rebuilt.*is gone"):
        open_cache(src, tmp_path / "cache", progress=False)
    assert issubclass(CacheError, DatasetError)
    from amc_cli import RefusedInput

    assert issubclass(CacheError, RefusedInput) and CacheError.status == 2


def test_source_identity_is_the_sha256_of_every_byte(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(np.random.default_rng(0).bytes(3 << 20))
    b = tmp_path / "b.bin"
    shutil.copyfile(a, b)
    with open(b, "r+b") as f:  # one byte in the middle
        f.seek((3 << 20) // 2 + 7)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 1]))
    ia, ib = source_identity(a), source_identity(b)
    assert ia["sha256"] == hashlib.sha256(a.read_bytes()).hexdigest()
    assert ib["sha256"] == hashlib.sha256(b.read_bytes()).hexdigest()
    assert ia["sha256"] != ib["sha256"] and ia["size"] == ib["size"]


def test_hdf5_files_one_data_byte_apart_get_two_caches(src, tmp_path):
    other = tmp_path / "other" / "toy.h5"
    other.parent.mkdir()
    shutil.copyfile(src, other)
    with h5py.File(other, "r") as f:
        offset = f["X"].id.get_offset() + f["X"].id.get_storage_size() // 8 * 4  # a float32's lowest byte
    with open(other, "r+b") as f:
        f.seek(offset)
        low = f.read(1)[0]
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([low ^ 1]))
    os.utime(other, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns))
    ca = open_cache(src, tmp_path / "cache", progress=False)
    cb = open_cache(other, tmp_path / "cache", progress=False)
    assert ca.directory != cb.directory and ca.source["sha256"] != cb.source["sha256"]


def test_the_source_hash_is_reused_until_the_file_changes_even_with_its_mtime_set_back(src, tmp_path, monkeypatch):
    _settle(monkeypatch)
    first = open_cache(src, tmp_path / "cache", progress=False)
    hashed = []
    real = cache_mod.file_digest
    monkeypatch.setattr(cache_mod, "file_digest", lambda p, *a, **k: hashed.append(p.name) or real(p, *a, **k))
    open_cache(src, tmp_path / "cache", progress=False)
    assert src.name not in hashed
    time.sleep(0.05)
    stamp = src.stat().st_mtime_ns
    write_toy_radioml(src, frames_per_block=2, seed=4)  # same size, other content, mtime set back
    os.utime(src, ns=(stamp, stamp))
    again = open_cache(src, tmp_path / "cache", progress=False)
    assert src.name in hashed and again.directory != first.directory
    assert np.array_equal(np.asarray(again.x), _expected(src)[0])


def _build_in_child(src, root, barrier, builds):
    real = cache_mod._build

    def slow_build(*args):
        with open(builds, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.5)  # both processes are inside open_cache while the first one builds
        real(*args)

    cache_mod._build = slow_build
    barrier.wait(timeout=60)
    c = open_cache(src, root, progress=False)
    return str(c.directory), hashlib.sha256(np.asarray(c.x).tobytes() + np.asarray(c.labels).tobytes()
                                            + np.asarray(c.snr_db).tobytes()).hexdigest()


def _child(src, root, barrier, builds, out):
    try:
        out.put(("ok", _build_in_child(src, root, barrier, builds)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        out.put(("error", repr(exc)))


def test_two_processes_building_one_cache_take_turns(src, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    builds = tmp_path / "builds.txt"
    procs = [ctx.Process(target=_child, args=(src, tmp_path / "cache", barrier, builds, out)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert results[0][1] == results[1][1]
    assert len(builds.read_text().split()) == 1
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [os.path.basename(results[0][1][0])]

"""A compact, memory-mapped copy of a RadioML file, built in one sequential pass.

The challenge sandbox read one 8 KB frame at a time from h5py through a random sampler: 2.3 million
random reads per epoch. Here the HDF5 file is read once, block by (modulation, SNR) block, into plain
.npy files that numpy memory-maps; a training batch is then one fancy-index into a page-cached array.

Encodings:
- int8: code = clip(round_half_even(x * 64), -128, 127). For the baseline's 8-bit input quantizer over
  [-2, 2) (scale 1/64) this is exactly the code the model computes, so it is lossless for such models,
  at a quarter of float32's size (5.2 GB for the full file, which fits in RAM).
- float16 / float32: for models with other input ranges (float16 is close, float32 exact).
Frames are stored channels-first (N, 2, 1024), the layout the networks take; labels uint8, SNRs int8.

A cache belongs to the content of its source, not to its name: `source_identity` hashes the file's bytes
(sha256 of the whole file up to FULL_HASH_BYTES, else of SAMPLE_WINDOWS windows spread over it, first
and last bytes included, plus its size), the cache folder is named after that hash, and `open_cache`
compares the hash meta.json records with the file's on every open. Two different files of one name,
size and mtime get two caches; a file replaced in place is cached anew; a copy or a `touch` of the same
bytes reuses its cache. While the cache is built, every row is checked: frames finite, labels one-hot
and of their block's class, SNRs those of their block.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.radioml import CLASSES, FRAME_LEN, N_BLOCKS, SNRS_DB, DatasetError, validate_file

INT8_SCALE = 1.0 / 64.0
ENCODINGS = ("int8", "float16", "float32")
CACHE_FORMAT = "amc-fpga-cache/2"  # /2: keyed by source content (sha256), every row checked
FULL_HASH_BYTES = 2 << 30  # files up to 2 GiB are hashed whole (the synthetic ones: about 1 s)
SAMPLE_WINDOWS, SAMPLE_BYTES = 4096, 64 << 10  # larger ones: 4096 windows of 64 KiB (256 MiB of 20 GiB)


@dataclass
class FrameCache:
    """Memory-mapped frames, labels and SNRs of one source file in one encoding."""

    directory: Path
    x: np.ndarray  # (N, 2, FRAME_LEN) memmap in `encoding`
    labels: np.ndarray  # (N,) uint8 class index (model.radioml.CLASSES order)
    snr_db: np.ndarray  # (N,) int8
    encoding: str
    frames_per_block: int
    source: dict

    @property
    def scale(self) -> float:
        """Multiply stored values by this to get float I/Q."""
        return INT8_SCALE if self.encoding == "int8" else 1.0

    def __len__(self) -> int:
        return self.x.shape[0]

    def frames(self, idx: np.ndarray) -> np.ndarray:
        """Float32 frames (n, 2, 1024) for `idx`; sorted indices read fastest."""
        out = np.asarray(self.x[idx], dtype=np.float32)
        if self.encoding == "int8":
            out *= INT8_SCALE
        return out


def encode(frames_nlc: np.ndarray, encoding: str) -> np.ndarray:
    """(n, 1024, 2) float I/Q as stored in the HDF5 file -> (n, 2, 1024) in `encoding`."""
    x = np.ascontiguousarray(np.swapaxes(frames_nlc, 1, 2))
    if encoding == "int8":
        return np.clip(np.rint(x * (1.0 / INT8_SCALE)), -128, 127).astype(np.int8)
    if encoding in ("float16", "float32"):
        return x.astype(encoding)
    raise ValueError(f"unknown cache encoding {encoding!r}; choose one of {ENCODINGS}")


def content_hash(path: Path) -> tuple[str, str]:
    """(sha256 hex, how it was taken) of a file's bytes: whole, or sampled windows for a large file."""
    size = path.stat().st_size
    h = hashlib.sha256(f"size={size};".encode())
    with open(path, "rb") as f:
        if size <= FULL_HASH_BYTES:
            while chunk := f.read(16 << 20):
                h.update(chunk)
            return h.hexdigest(), "sha256 of the whole file"
        step = (size - SAMPLE_BYTES) / (SAMPLE_WINDOWS - 1)
        for i in range(SAMPLE_WINDOWS):
            f.seek(int(i * step))
            h.update(f.read(SAMPLE_BYTES))
        return h.hexdigest(), f"sha256 of {SAMPLE_WINDOWS} windows of {SAMPLE_BYTES >> 10} KiB spread over the file"


def source_identity(path: Path) -> dict:
    """What identifies a source file: its content hash and size (path and mtime are recorded, not compared)."""
    st = path.stat()
    digest, method = content_hash(path)
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest,
            "hash": method}


def cache_dir_for(source: Path, cache_root: Path, encoding: str, identity: dict | None = None) -> Path:
    identity = identity or source_identity(source)
    return cache_root / f"{source.stem}-{encoding}-{identity['sha256'][:20]}"


def _cache_matches(directory: Path, identity: dict, encoding: str) -> bool:
    """Whether `directory` is a complete cache of exactly this source content in this encoding."""
    try:
        meta = json.loads((directory / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    src = meta.get("source", {})
    return (meta.get("format") == CACHE_FORMAT and meta.get("encoding") == encoding
            and src.get("sha256") == identity["sha256"] and src.get("size") == identity["size"]
            and all((directory / f).is_file() for f in ("x.npy", "labels.npy", "snr_db.npy")))


def open_cache(source: str | Path, cache_root: str | Path, encoding: str = "int8", progress: bool = True) -> FrameCache:
    """The cache of `source` in `encoding`, built first if missing or stale (the source changed)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown cache encoding {encoding!r}; choose one of {ENCODINGS}")
    source, cache_root = Path(source), Path(cache_root)
    info = validate_file(source)
    identity = source_identity(source)
    directory = cache_dir_for(source, cache_root, encoding, identity)
    if not _cache_matches(directory, identity, encoding):
        if directory.exists():  # a damaged or foreign cache under this name: never trusted
            shutil.rmtree(directory)
        _build(source, directory, encoding, info.frames_per_block, progress, identity)
    meta = json.loads((directory / "meta.json").read_text())
    return FrameCache(
        directory=directory,
        x=np.load(directory / "x.npy", mmap_mode="r"),
        labels=np.load(directory / "labels.npy", mmap_mode="r"),
        snr_db=np.load(directory / "snr_db.npy", mmap_mode="r"),
        encoding=encoding,
        frames_per_block=meta["frames_per_block"],
        source=meta["source"],
    )


def _check_block_rows(source: Path, b: int, start: int, y: np.ndarray, z: np.ndarray) -> None:
    """Every row of block `b`: a one-hot label of the block's class, the block's SNR."""
    mod, snr_idx = divmod(b, len(SNRS_DB))
    y = y.reshape(len(y), -1)
    one_hot = ((y == 0) | (y == 1)).all(axis=1) & (y.sum(axis=1) == 1)
    bad = np.flatnonzero(~one_hot)
    if bad.size:
        i = int(bad[0])
        raise DatasetError(
            f"{source}: frame {start + i} (block {b}, {CLASSES[mod]} at {SNRS_DB[snr_idx]} dB) has label row "
            f"{np.array2string(y[i], threshold=30)}, not one-hot ({bad.size} such rows in its block); the labels "
            "are damaged."
        )
    wrong = np.flatnonzero(y.argmax(axis=1) != mod)
    if wrong.size:
        i = int(wrong[0])
        got = int(y[i].argmax())
        raise DatasetError(
            f"{source}: frame {start + i} is labelled {CLASSES[got]} (class {got}) inside the block of "
            f"{CLASSES[mod]} at {SNRS_DB[snr_idx]} dB ({wrong.size} such frames in its block); every frame of "
            "a block must carry its block's class, as in the original file."
        )
    z = z.reshape(-1)
    off = np.flatnonzero(~np.isfinite(z) | (np.round(z) != SNRS_DB[snr_idx]))
    if off.size:
        i = int(off[0])
        raise DatasetError(
            f"{source}: frame {start + i} has SNR {z[i]} dB inside the block of {CLASSES[mod]} at "
            f"{SNRS_DB[snr_idx]} dB ({off.size} such frames in its block); the SNRs are damaged."
        )


def _build(source: Path, directory: Path, encoding: str, fpb: int, progress: bool, identity: dict) -> None:
    """One sequential pass over the file, block by block, into a temporary folder renamed at the end."""
    import h5py
    from tqdm import tqdm

    _remove_stale_siblings(source, directory, encoding)
    tmp = directory.with_name(directory.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n = N_BLOCKS * fpb
    try:
        x = np.lib.format.open_memmap(tmp / "x.npy", mode="w+", dtype=encoding, shape=(n, 2, FRAME_LEN))
        labels = np.lib.format.open_memmap(tmp / "labels.npy", mode="w+", dtype=np.uint8, shape=(n,))
        snr = np.lib.format.open_memmap(tmp / "snr_db.npy", mode="w+", dtype=np.int8, shape=(n,))
        with h5py.File(source, "r") as f:
            X, Y, Z = f["X"], f["Y"], f["Z"]
            for b in tqdm(range(N_BLOCKS), desc=f"caching {source.name} ({encoding})", unit="block", disable=None if progress else True):
                s = slice(b * fpb, (b + 1) * fpb)
                try:
                    block = np.asarray(X[s], dtype=np.float32)
                    y, z = np.asarray(Y[s]), np.asarray(Z[s])
                except OSError as exc:  # HDF5 cannot read the chunk: the file ends early or is damaged
                    raise DatasetError(
                        f"{source}: frames {s.start}..{s.stop - 1} cannot be read ({exc}); the file is truncated "
                        "or damaged. Re-extract or re-download it (or regenerate a synthetic file)."
                    ) from exc
                _check_block_rows(source, b, s.start, y, z)
                bad = np.flatnonzero(~np.isfinite(block).all(axis=(1, 2)))
                if bad.size:
                    i = s.start + int(bad[0])
                    mod, snr_idx = divmod(b, len(SNRS_DB))
                    raise DatasetError(
                        f"{source}: frame {i} ({CLASSES[mod]} at {SNRS_DB[snr_idx]} dB) holds NaN or inf "
                        f"({bad.size} such frames in its block); the file is damaged. Re-extract or "
                        "re-download it (or regenerate a synthetic file)."
                    )
                x[s] = encode(block, encoding)
                labels[s] = y.reshape(len(y), -1).argmax(axis=1).astype(np.uint8)
                snr[s] = z.reshape(-1).round().astype(np.int8)
        for arr in (x, labels, snr):
            arr.flush()
        del x, labels, snr
        meta = {
            "format": CACHE_FORMAT,
            "encoding": encoding,
            "n_frames": n,
            "frames_per_block": fpb,
            "source": identity,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_stale_siblings(source: Path, directory: Path, encoding: str) -> None:
    """Caches of an older version of the same file (same path, other content) would only fill the disk."""
    prefix = f"{source.stem}-{encoding}-"
    if not directory.parent.exists():
        return
    for sibling in directory.parent.iterdir():
        if sibling.name.startswith(prefix) and sibling != directory and (sibling / "meta.json").exists():
            try:
                meta = json.loads((sibling / "meta.json").read_text())
            except (OSError, ValueError):
                continue
            if meta.get("source", {}).get("path") == str(source.resolve()):
                shutil.rmtree(sibling, ignore_errors=True)

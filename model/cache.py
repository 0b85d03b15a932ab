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
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.radioml import CLASSES, FRAME_LEN, N_BLOCKS, SNRS_DB, DatasetError, validate_file

INT8_SCALE = 1.0 / 64.0
ENCODINGS = ("int8", "float16", "float32")
CACHE_FORMAT = "amc-fpga-cache/1"


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


def _source_fingerprint(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_dir_for(source: Path, cache_root: Path, encoding: str) -> Path:
    fp = _source_fingerprint(source)
    return cache_root / f"{source.stem}-{encoding}-{fp['size']}-{fp['mtime_ns']}"


def open_cache(source: str | Path, cache_root: str | Path, encoding: str = "int8", progress: bool = True) -> FrameCache:
    """The cache of `source` in `encoding`, built first if missing or stale (the source changed)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown cache encoding {encoding!r}; choose one of {ENCODINGS}")
    source, cache_root = Path(source), Path(cache_root)
    info = validate_file(source)
    directory = cache_dir_for(source, cache_root, encoding)
    if not (directory / "meta.json").exists():
        _build(source, directory, encoding, info.frames_per_block, progress)
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


def _build(source: Path, directory: Path, encoding: str, fpb: int, progress: bool) -> None:
    """One sequential pass over the file, block by block, into a temporary folder renamed at the end."""
    import h5py
    from tqdm import tqdm

    _remove_stale_siblings(source, directory)
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
                block = np.asarray(X[s], dtype=np.float32)
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
                labels[s] = np.asarray(Y[s]).argmax(axis=1).astype(np.uint8)
                snr[s] = np.asarray(Z[s]).reshape(-1).round().astype(np.int8)
        for arr in (x, labels, snr):
            arr.flush()
        del x, labels, snr
        meta = {
            "format": CACHE_FORMAT,
            "encoding": encoding,
            "n_frames": n,
            "frames_per_block": fpb,
            "source": _source_fingerprint(source),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_stale_siblings(source: Path, directory: Path) -> None:
    """Caches of an older version of the same file would only fill the disk."""
    prefix = directory.name.rsplit("-", 2)[0] + "-"
    if not directory.parent.exists():
        return
    for sibling in directory.parent.iterdir():
        if sibling.name.startswith(prefix) and sibling != directory and (sibling / "meta.json").exists():
            meta = json.loads((sibling / "meta.json").read_text())
            if meta.get("source", {}).get("path") == str(source.resolve()):
                shutil.rmtree(sibling, ignore_errors=True)

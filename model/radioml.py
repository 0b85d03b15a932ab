"""What a RadioML 2018.01A file is: class and SNR order, frame layout, and a schema check.

The real file (GOLD_XYZ_OSC.0001_1024.hdf5) holds `X` (N, 1024, 2) float32 I/Q frames, `Y` (N, 24)
one-hot labels and `Z` (N, 1) SNRs in dB, ordered by modulation, then SNR, in blocks of 4096 frames.
The synthetic stand-in (model/synth.py) writes the same schema with fewer frames per block, so every
reader here takes the block size from the file instead of assuming 4096.

The class order is the corrected one used by the ITU challenge; the dataset's own classes.txt is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amc_cli import RefusedInput
from amc_cli.inputs import HDF5_DAMAGE, frames_shape_problem, hdf5_damage

CLASSES: tuple[str, ...] = (
    "OOK", "4ASK", "8ASK", "BPSK", "QPSK", "8PSK", "16PSK", "32PSK",
    "16APSK", "32APSK", "64APSK", "128APSK",
    "16QAM", "32QAM", "64QAM", "128QAM", "256QAM",
    "AM-SSB-WC", "AM-SSB-SC", "AM-DSB-WC", "AM-DSB-SC", "FM", "GMSK", "OQPSK",
)
SNRS_DB: tuple[int, ...] = tuple(range(-20, 31, 2))
FRAME_LEN = 1024
N_CLASSES = len(CLASSES)
N_SNRS = len(SNRS_DB)
N_BLOCKS = N_CLASSES * N_SNRS
REAL_FRAMES_PER_BLOCK = 4096
REAL_FILE_NAME = "GOLD_XYZ_OSC.0001_1024.hdf5"


class DatasetError(RefusedInput):
    """A data file that is not a usable RadioML 2018 file; the message says what to fix."""


@dataclass(frozen=True)
class RadioMLInfo:
    """Shape facts of a validated file."""

    path: Path
    n_frames: int
    frames_per_block: int
    x_dtype: str

    @property
    def is_full_size(self) -> bool:
        return self.frames_per_block == REAL_FRAMES_PER_BLOCK


def block_start(mod: int, snr_idx: int, frames_per_block: int) -> int:
    """First frame index of the (modulation, SNR) block: frames are ordered by modulation, then SNR."""
    return (mod * N_SNRS + snr_idx) * frames_per_block


def validate_file(path: str | Path) -> RadioMLInfo:
    """Open `path` and check the RadioML 2018 schema; raise DatasetError naming what is wrong.

    Reads only shapes, dtypes and one label and SNR per block, so it is fast on the 20 GB file.
    NaN frames, and every row's label (one-hot, its block's class) and SNR, are checked by the cache
    builder (model/cache.py), which reads every frame once anyway.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise DatasetError(
            f"{path}: no such file. Pass the RadioML 2018.01A file ({REAL_FILE_NAME}) or make a "
            "synthetic one with `python -m model.synth --out data/synthetic.h5`."
        )
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder; pass the HDF5 file itself ({REAL_FILE_NAME} or a synthetic .h5)")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: the file is empty (0 bytes): an interrupted download or copy? The real file "
                           "is about 20 GiB.")
    if not h5py.is_hdf5(path):
        raise DatasetError(
            f"{path}: not an HDF5 file (a truncated download or an unextracted .tar.gz?). "
            "Extract the archive and check its size: the real file is about 20 GiB."
        )
    try:
        f = h5py.File(path, "r")
    except OSError as exc:  # corrupt superblock, truncated file
        import re

        m = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", str(exc))
        if m:
            raise DatasetError(
                f"{path}: the file is truncated: {int(m[1]):,} of its {int(m[2]):,} bytes are there (an interrupted "
                "download or copy?). Re-extract or re-download it (or regenerate a synthetic file)."
            ) from exc
        raise DatasetError(f"{path}: HDF5 file cannot be opened ({exc}); it is probably truncated or corrupt. "
                           "Re-extract or re-download it (or regenerate a synthetic file).") from exc
    try:
        with f:
            return _check_schema(path, f)
    except HDF5_DAMAGE as exc:  # a dataset's data cannot be read: the file ends early or is damaged
        if not hdf5_damage(exc):
            raise
        raise DatasetError(
            f"{path}: HDF5 file cannot be read ({exc}); it is truncated or damaged. Re-extract or re-download "
            "it (or regenerate a synthetic file)."
        ) from exc


def _check_schema(path: Path, f) -> RadioMLInfo:
    missing = [k for k in ("X", "Y", "Z") if k not in f]
    if missing:
        raise DatasetError(
            f"{path}: missing dataset(s) {missing}; found {sorted(f.keys())}. "
            "A RadioML 2018 file has X (frames), Y (one-hot labels) and Z (SNR)."
        )
    x, y, z = f["X"], f["Y"], f["Z"]
    n = x.shape[0]
    problem = frames_shape_problem(x.shape, frame_len=FRAME_LEN)
    if problem:
        raise DatasetError(f"{path}: {problem}")
    if not np.issubdtype(x.dtype, np.floating):
        raise DatasetError(f"{path}: X has dtype {x.dtype}, expected a float type (float32).")
    if y.shape != (n, N_CLASSES):
        raise DatasetError(f"{path}: Y has shape {y.shape}, expected ({n}, {N_CLASSES}) one-hot labels.")
    if z.shape not in ((n, 1), (n,)):
        raise DatasetError(f"{path}: Z has shape {z.shape}, expected ({n}, 1) SNR values.")
    if n == 0 or n % N_BLOCKS:
        raise DatasetError(
            f"{path}: {n} frames is not a positive multiple of {N_CLASSES} classes x {N_SNRS} SNRs "
            f"= {N_BLOCKS} blocks; the file is truncated or not ordered by modulation and SNR."
        )
    fpb = n // N_BLOCKS
    starts = [block_start(m, s, fpb) for m in range(N_CLASSES) for s in range(N_SNRS)]
    labels = np.asarray(y[starts]).argmax(axis=1)
    snrs = np.asarray(z[starts]).reshape(-1)
    want_labels = np.repeat(np.arange(N_CLASSES), N_SNRS)
    want_snrs = np.tile(np.array(SNRS_DB), N_CLASSES)
    bad = np.flatnonzero((labels != want_labels) | (snrs.round() != want_snrs))
    if bad.size:
        b = int(bad[0])
        raise DatasetError(
            f"{path}: block {b} (frame {starts[b]}) holds class {int(labels[b])} at {snrs[b]} dB, "
            f"expected class {want_labels[b]} ({CLASSES[want_labels[b]]}) at {want_snrs[b]} dB: "
            "frames must be ordered by modulation, then SNR, as in the original file."
        )
    return RadioMLInfo(path=path, n_frames=n, frames_per_block=fpb, x_dtype=str(x.dtype))

"""RadioML front end: frames from the HDF5 file -> input codes -> accelerator -> logits -> top-1 labels.

The file is read in blocks small enough for the board's memory (`block_frames` frames at a time; a
frame is 1024 x 2 float32 = 8 KiB). Frames go to the accelerator in batches of its batch size; a short
last batch is padded with zero codes (the padding's outputs are dropped), so the DMA buffers are never
reallocated during a pass.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amc_cli import RefusedInput
from amc_cli.inputs import HDF5_DAMAGE, frames_shape_problem, hdf5_damage

from .meta import ModelIO

#: The challenge's official split (README, "The challenge rules"): seed 2018, per (class, SNR) block
#: in file order, shuffle and take the first ceil(0.1 * block) frames as test.
SPLIT_SEED = 2018
TEST_FRACTION = 0.1
N_CLASSES = 24
N_SNRS = 26
SNRS_DB = tuple(range(-20, 31, 2))


TIE_RTOL = 1e-5  # as model/metrics.py: logits this close (relative to the row's largest) are a tie


def top1(logits: np.ndarray, rtol: float = TIE_RTOL) -> np.ndarray:
    """Predicted class per row, ties to the lowest class index: the rule the software evaluation uses
    (model.metrics.top1, which this driver may not import), so exact ties of a quantized classifier's
    logits are broken the same way on both sides."""
    logits = np.asarray(logits, dtype=np.float64)
    best = logits.max(axis=1, keepdims=True)
    tol = rtol * np.maximum(1.0, np.abs(logits).max(axis=1, keepdims=True))
    return (logits >= best - tol).argmax(axis=1)


class DataError(RefusedInput):
    """A data file or frame selection the driver cannot use; the message says what is wrong."""


@dataclass
class FrameSet:
    """Which frames to run: indices into the HDF5 file, with their labels and SNRs, and where they came from."""

    index: np.ndarray
    label: np.ndarray
    snr_db: np.ndarray
    description: str

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def from_predictions(cls, path: Path) -> "FrameSet":
        """The frames the software model was evaluated on (the run folder's predictions.npz)."""
        try:
            d = np.load(path)
            d = {k: d[k] for k in d.files}
        except (OSError, ValueError, EOFError, __import__("zipfile").BadZipFile) as e:
            raise DataError(f"{path}: not a readable .npz of per-frame predictions ({type(e).__name__}: {e})") from e
        missing = [k for k in ("index", "label", "snr_db") if k not in d]
        if missing:
            raise DataError(f"{path}: lacks {missing} (expected index, label, snr_db, predicted, logits)")
        return cls(index=d["index"].astype(np.int64), label=d["label"].astype(np.int64),
                   snr_db=d["snr_db"].astype(np.int64),
                   description=f"the official test split, as evaluated in software ({Path(path).name})")

    @classmethod
    def official_test_split(cls, h5_path: Path) -> "FrameSet":
        """The official test split of a file in the RadioML 2018 schema. Labels and SNRs follow from the
        file's order (by class, then SNR, in equal blocks), checked on the first frame of every block."""
        with _open_h5(h5_path) as f:
            n = f["X"].shape[0]
            blocks = N_CLASSES * N_SNRS
            if n == 0 or n % blocks:
                raise DataError(f"{h5_path}: {n} frames is not a multiple of {blocks} (class, SNR) blocks")
            fpb = n // blocks
            starts = np.arange(blocks) * fpb
            y = np.asarray(f["Y"][starts.tolist()]).argmax(1)
            z = np.asarray(f["Z"][starts.tolist()]).reshape(-1)
        want_y, want_z = np.arange(blocks) // N_SNRS, np.asarray(SNRS_DB)[np.arange(blocks) % N_SNRS]
        bad = np.flatnonzero((y != want_y) | (np.round(z) != want_z))
        if len(bad):
            b = int(bad[0])
            raise DataError(f"{h5_path}: block {b} holds class {int(y[b])} at {z[b]} dB, expected class "
                            f"{int(want_y[b])} at {int(want_z[b])} dB (frames must be ordered by class, then SNR)")
        rng = np.random.RandomState(SPLIT_SEED)
        n_test = math.ceil(TEST_FRACTION * fpb)
        test = []
        for b in range(blocks):
            block = np.arange(b * fpb, (b + 1) * fpb, dtype=np.int64)
            rng.shuffle(block)
            test.append(block[:n_test])
        idx = np.concatenate(test)
        blk = idx // fpb
        return cls(index=idx, label=(blk // N_SNRS).astype(np.int64),
                   snr_db=np.asarray(SNRS_DB, dtype=np.int64)[blk % N_SNRS],
                   description=f"the official test split of {Path(h5_path).name} (seed {SPLIT_SEED})")

    def subset(self, per_block: int | None = None, snrs: list | None = None, limit: int | None = None) -> "FrameSet":
        """The first `per_block` frames of each (class, SNR) in split order, optionally only some SNRs."""
        keep = np.ones(len(self), dtype=bool)
        parts = []
        if snrs:
            keep &= np.isin(self.snr_db, np.asarray(snrs, dtype=np.int64))
            parts.append(f"SNRs {', '.join(str(s) for s in snrs)} dB")
        if per_block is not None:
            if per_block < 1:
                raise DataError(f"per_block must be at least 1, got {per_block}")
            seen: dict = {}
            for i in np.flatnonzero(keep):
                k = (int(self.label[i]), int(self.snr_db[i]))
                seen[k] = seen.get(k, 0) + 1
                if seen[k] > per_block:
                    keep[i] = False
            parts.append(f"first {per_block} per (class, SNR) in split order")
        sel = np.flatnonzero(keep)
        if limit is not None:
            sel = sel[:limit]
            parts.append(f"at most {limit} frames")
        if len(sel) == 0:
            raise DataError(f"the selection ({'; '.join(parts)}) leaves no frames")
        desc = self.description + ("; subset: " + "; ".join(parts) if parts else "")
        return FrameSet(self.index[sel], self.label[sel], self.snr_db[sel], desc)


@contextlib.contextmanager
def _open_h5(path: Path):
    """The file open for reading; damage found while reading it inside the block becomes one DataError."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file (the RadioML 2018.01A HDF5, or a file of the same schema)")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the data file is empty (0 bytes): an interrupted copy or download?")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        why = "truncated: an interrupted copy or download?" if "truncated" in str(e) else "not an HDF5 file?"
        raise DataError(f"{path}: cannot be opened as HDF5, {why} ({e})") from e
    try:
        with f:
            if not isinstance(f.get("X"), h5py.Dataset):
                raise DataError(f"{path}: no dataset X (frames); a RadioML 2018 file has X, Y and Z")
            yield f
    except HDF5_DAMAGE as e:
        if not hdf5_damage(e):
            raise
        raise DataError(f"{path}: cannot be read (truncated or damaged HDF5: {type(e).__name__}: {e})") from e


#: at most this many frames are read to check that a data file is the run's (labels, SNRs, content)
CHECK_FRAMES = 512


def _sample(index: np.ndarray, n: int = CHECK_FRAMES) -> np.ndarray:
    """Up to `n` distinct indices spread evenly over `index`, increasing (as h5py's fancy reads want)."""
    u = np.unique(np.asarray(index, dtype=np.int64))
    if len(u) > n:
        u = u[np.linspace(0, len(u) - 1, n).round().astype(np.int64)]
    return u


def check_data_file(path: Path, frame_shape: tuple | None = None) -> dict:
    """The schema of a RadioML 2018 file, checked before anything runs on it: X (N, W, C) frames, Y (N, 24)
    one-hot, Z (N, 1) SNRs, N a whole number of (class, SNR) blocks; the last frame is read, so a file cut
    short inside its data is named here too. Returns {"frames", "frames_per_block", "attrs"}."""
    with _open_h5(path) as f:
        try:
            x, y, z = f["X"], f.get("Y"), f.get("Z")
            if y is None or z is None:
                raise DataError(f"{path}: no dataset {'Y' if y is None else 'Z'}; a RadioML 2018 file has X, Y and Z")
            problem = frames_shape_problem(x.shape, frame_len=frame_shape[1] if frame_shape else 1024)
            if problem:
                raise DataError(f"{path}: {problem}")
            n = x.shape[0]
            if x.ndim != 3 or y.ndim != 2 or y.shape[1] != N_CLASSES or z.shape[0] != n or y.shape[0] != n:
                raise DataError(f"{path}: X {x.shape}, Y {y.shape}, Z {z.shape} is not the RadioML 2018 schema "
                                f"(X (N, 1024, 2), Y (N, {N_CLASSES}), Z (N, 1))")
            blocks = N_CLASSES * N_SNRS
            if n == 0 or n % blocks:
                raise DataError(f"{path}: {n} frames is not a multiple of {blocks} (class, SNR) blocks")
            np.asarray(x[n - 1]), np.asarray(y[n - 1]), np.asarray(z[n - 1])
            attrs = {k: (v.item() if hasattr(v, "item") and np.ndim(v) == 0 else v) for k, v in f.attrs.items()}
        except OSError as e:  # h5py reads past the end of a damaged file
            raise DataError(f"{path}: cannot be read (truncated or damaged HDF5: {e})") from e
    return {"frames": int(n), "frames_per_block": int(n // blocks), "attrs": attrs}


def label_mismatches(path: Path, frames: "FrameSet", limit: int = CHECK_FRAMES) -> tuple[int, int, str]:
    """Labels and SNRs the file holds at (a spread sample of) the frames' indices against the frames' own:
    (frames checked, frames that differ, the first difference in words)."""
    idx = _sample(frames.index, limit)
    with _open_h5(path) as f:
        n = f["X"].shape[0]
        if len(idx) and (idx[0] < 0 or idx[-1] >= n):
            return len(idx), len(idx), f"frame index {int(idx[-1])} is out of range ({n} frames in the file)"
        try:
            y = np.asarray(f["Y"][idx.tolist()]).argmax(1)
            z = np.round(np.asarray(f["Z"][idx.tolist()], dtype=np.float64).reshape(-1)).astype(np.int64)
        except (OSError, KeyError) as e:
            raise DataError(f"{path}: cannot read labels and SNRs ({e})") from e
    pos = {int(i): k for k, i in enumerate(frames.index)}
    k = np.asarray([pos[int(i)] for i in idx], dtype=np.int64)
    bad = np.flatnonzero((y != frames.label[k]) | (z != frames.snr_db[k]))
    if not len(bad):
        return len(idx), 0, ""
    b = int(bad[0])
    return len(idx), len(bad), (f"frame {int(idx[b])} is class {int(y[b])} at {int(z[b])} dB in the file, class "
                                f"{int(frames.label[k[b]])} at {int(frames.snr_db[k[b]])} dB in the run")


def check_labels(path: Path, frames: "FrameSet", what: str) -> None:
    """DataError unless the file's labels and SNRs at the frames' indices are the frames' (`what`: whose)."""
    checked, bad, first = label_mismatches(path, frames)
    if bad:
        raise DataError(f"{path} is not the data file of {what}: {bad} of {checked} frames checked have other "
                        f"labels or SNRs ({first})")


def content_mismatches(path: Path, reference: Path, index: np.ndarray,
                       limit: int = CHECK_FRAMES) -> tuple[int, int, int]:
    """Frames of two files at (a spread sample of) `index`: (frames checked, frames that differ, first index)."""
    idx = _sample(index, limit)
    with _open_h5(path) as a, _open_h5(reference) as b:
        if a["X"].shape[1:] != b["X"].shape[1:] or (len(idx) and idx[-1] >= min(len(a["X"]), len(b["X"]))):
            return len(idx), len(idx), int(idx[0]) if len(idx) else -1
        try:
            xa, xb = np.asarray(a["X"][idx.tolist()]), np.asarray(b["X"][idx.tolist()])
        except OSError as e:
            raise DataError(f"{path} or {reference}: cannot read frames ({e})") from e
    bad = np.flatnonzero(~(xa == xb).reshape(len(idx), -1).all(axis=1))
    return len(idx), len(bad), int(idx[bad[0]]) if len(bad) else -1


def read_blocks(h5_path: Path, index: np.ndarray, frame_shape: tuple, block_frames: int = 2048):
    """Yield (positions, frames) with frames (n, C, W) float32 in the model's NCW layout, `block_frames`
    at a time, for the frames `index` (positions index into `index`). Reads in increasing file order;
    a dense run of indices is read as one slice."""
    order = np.argsort(index, kind="stable")
    with _open_h5(h5_path) as f:
        x = f["X"]
        problem = frames_shape_problem(x.shape, frame_len=frame_shape[1])
        if problem:
            raise DataError(f"{h5_path}: {problem}")
        if len(index) and (index.min() < 0 or index.max() >= x.shape[0]):
            raise DataError(f"{h5_path}: frame index {int(index.max())} out of range ({x.shape[0]} frames); "
                            "the predictions belong to another file")
        for s in range(0, len(order), block_frames):
            pos = order[s: s + block_frames]
            idx = index[pos]
            uniq, inverse = np.unique(idx, return_inverse=True)
            lo, hi = int(uniq[0]), int(uniq[-1]) + 1
            if hi - lo <= 4 * len(uniq):  # dense: one contiguous read
                data = np.asarray(x[lo:hi])[uniq - lo]
            else:
                data = np.asarray(x[uniq.tolist()])
            yield pos, np.ascontiguousarray(data[inverse].transpose(0, 2, 1), dtype=np.float32)


class Classifier:
    """Float frames -> codes -> accelerator (any overlay with FINNDMAOverlay's interface) -> logits."""

    def __init__(self, io: ModelIO, accel):
        self.io = io
        self.accel = accel
        io.check_io_shape_dict(accel.io_shape_dict, f"the {getattr(accel, 'kind', 'board')} overlay's io_shape_dict")

    def run_codes(self, codes: np.ndarray) -> np.ndarray:
        """Input codes (N, C, W) -> the accelerator's integer output (N, ...), in batches."""
        acc_in = self.io.accelerator_input(codes)
        dt = self.accel.idt()
        if dt.is_integer() and dt.bitwidth() == 8:  # native container: finn-plus-driver's fast packing path
            acc_in = acc_in.astype(np.int8 if dt.signed() else np.uint8)
        bs = self.accel.batch_size
        outs = []
        for s in range(0, len(acc_in), bs):
            chunk = acc_in[s: s + bs]
            n = len(chunk)
            if n < bs:
                chunk = np.concatenate([chunk, np.zeros((bs - n, *chunk.shape[1:]), dtype=chunk.dtype)])
            outs.append(np.asarray(self.accel.execute(chunk))[:n])
        return np.concatenate(outs) if outs else np.zeros((0, *self.io.accel_out_shape[1:]), np.float32)

    def classify(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Float frames (N, C, W) -> (integer output, logits, top-1 labels)."""
        out = self.run_codes(self.io.codes(frames))
        logits = self.io.logits(out)
        return out, logits, top1(logits)

    def run_frameset(self, h5_path: Path, frames: FrameSet, block_frames: int = 2048, progress=None) -> dict:
        n = len(frames)
        int_out = np.zeros((n, int(np.prod(self.io.accel_out_shape[1:]))), np.float32)
        logits = np.zeros((n, self.io.n_classes), np.float32)
        done = 0
        for pos, x in read_blocks(h5_path, frames.index, self.io.frame_shape, block_frames):
            o, lg, _ = self.classify(x)
            int_out[pos] = o.reshape(len(pos), -1)
            logits[pos] = lg
            done += len(pos)
            if progress:
                progress(done, n)
        return {"int_out": int_out, "logits": logits, "predicted": top1(logits)}

"""RadioML front end: frames from the HDF5 file -> input codes -> accelerator -> logits -> top-1 labels.

The file is read in blocks small enough for the board's memory (`block_frames` frames at a time; a
frame is 1024 x 2 float32 = 8 KiB). Frames go to the accelerator in batches of its batch size; a short
last batch is padded with zero codes (the padding's outputs are dropped), so the DMA buffers are never
reallocated during a pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .meta import MetadataError, ModelIO

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


class DataError(ValueError):
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
        d = np.load(path)
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


def _open_h5(path: Path):
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file (the RadioML 2018.01A HDF5, or a file of the same schema)")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"{path}: cannot be opened as HDF5 ({e})") from e
    if "X" not in f:
        f.close()
        raise DataError(f"{path}: no dataset X (frames); a RadioML 2018 file has X, Y and Z")
    return f


def read_blocks(h5_path: Path, index: np.ndarray, frame_shape: tuple, block_frames: int = 2048):
    """Yield (positions, frames) with frames (n, C, W) float32 in the model's NCW layout, `block_frames`
    at a time, for the frames `index` (positions index into `index`). Reads in increasing file order;
    a dense run of indices is read as one slice."""
    order = np.argsort(index, kind="stable")
    with _open_h5(h5_path) as f:
        x = f["X"]
        if x.ndim != 3 or (x.shape[2], x.shape[1]) != tuple(frame_shape):
            raise MetadataError(f"{h5_path}: X holds frames of shape {tuple(x.shape[1:])} (W, C); the model takes "
                                f"{tuple(frame_shape)} (C, W) frames")
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

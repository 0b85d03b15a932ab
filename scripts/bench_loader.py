"""Frames per second of the sandbox's access pattern against the compact cache, on the same file.

The challenge sandbox fed training through a random sampler that reads one frame at a time from h5py;
model/cache.py reads the file once and serves batches from a memory-mapped int8 array. Both are timed
here on one file of the real layout (a synthetic one by default) and the ratio is printed, with the
throughput of the cache's sha256 (identifying the source, verifying the frames) and what it makes of
the real 20 GiB file and its 5.2 GB int8 frames.

    python scripts/bench_loader.py [--file data/bench.h5] [--frames-per-block 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from amc_cli import command  # noqa: E402
from model.cache import file_digest, open_cache  # noqa: E402
from model.radioml import FRAME_LEN, N_BLOCKS, REAL_FRAMES_PER_BLOCK  # noqa: E402
from model.split import official_split  # noqa: E402

REAL_FRAMES = N_BLOCKS * REAL_FRAMES_PER_BLOCK
REAL_FILE_BYTES = REAL_FRAMES * (FRAME_LEN * 2 * 4 + 24 * 8 + 8)  # X float32, Y and Z int64: 21.45 GB
REAL_INT8_FRAMES_BYTES = REAL_FRAMES * 2 * FRAME_LEN  # the int8 cache's x.npy: 5.23 GB


def time_h5py_random_frames(path: Path, indices: np.ndarray) -> float:
    """The sandbox's pattern: one `X[i]` read and transpose per frame, in random order."""
    import h5py

    with h5py.File(path, "r") as f:
        X, Y, Z = f["X"], f["Y"], f["Z"]
        t = time.perf_counter()
        for i in indices:
            X[i].transpose(), np.argmax(Y[i]), Z[i, 0]
        return len(indices) / (time.perf_counter() - t)


def time_cache_batches(cache, indices: np.ndarray, batch_size: int) -> float:
    t = time.perf_counter()
    for start in range(0, len(indices), batch_size):
        idx = np.sort(indices[start : start + batch_size])
        cache.frames(idx), cache.labels[idx], cache.snr_db[idx]
    return len(indices) / (time.perf_counter() - t)


def hash_mb_per_s(path: Path) -> float:
    """sha256 throughput over one file, as the cache takes it (page-cached if the file was just read)."""
    t = time.perf_counter()
    file_digest(path)
    return path.stat().st_size / (time.perf_counter() - t) / 1e6


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", help="RadioML-schema HDF5 file (default: a synthetic one, generated once)")
    ap.add_argument("--frames-per-block", type=int, default=128, help="size of the generated synthetic file")
    ap.add_argument("--h5-frames", type=int, default=3000, help="random single-frame reads to time")
    ap.add_argument("--cache-frames", type=int, default=200_000, help="frames to serve from the cache")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    path = Path(args.file) if args.file else Path("data") / f"bench-synthetic-{args.frames_per_block}.h5"
    if not path.exists():
        from model.synth import write_synthetic_file

        path.parent.mkdir(parents=True, exist_ok=True)
        write_synthetic_file(path, args.frames_per_block, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        cache = open_cache(path, Path(tmp), "int8", progress=not args.json)
        build_s = time.perf_counter() - t
        train = official_split(cache.frames_per_block).train
        rng = np.random.default_rng(0)
        h5_fps = time_h5py_random_frames(path, rng.choice(train, args.h5_frames, replace=False))
        epoch = rng.permutation(train)
        reps = -(-args.cache_frames // len(epoch))
        cache_fps = time_cache_batches(cache, np.tile(epoch, reps)[: args.cache_frames], args.batch_size)
        source_mbps = hash_mb_per_s(path)
        verify_mbps = hash_mb_per_s(cache.directory / "x.npy")
    result = {
        "file": str(path), "frames": len(cache), "cache_build_s": round(build_s, 2),
        "h5py_random_frames_per_s": round(h5_fps), "cache_batches_frames_per_s": round(cache_fps),
        "speedup": round(cache_fps / h5_fps, 1),
        "source_sha256_MB_per_s": round(source_mbps), "frames_verify_MB_per_s": round(verify_mbps),
        "real_file_hash_s": round(REAL_FILE_BYTES / 1e6 / source_mbps, 1),
        "real_int8_frames_verify_s": round(REAL_INT8_FRAMES_BYTES / 1e6 / verify_mbps, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"file {path} ({len(cache)} frames); cache built in {build_s:.1f} s")
        print(f"  h5py, one random frame per read (sandbox): {h5_fps:12.0f} frames/s")
        print(f"  int8 cache, batches of {args.batch_size}:            {cache_fps:12.0f} frames/s")
        print(f"  ratio: {cache_fps / h5_fps:.1f}x")
        print(f"  sha256 of the source {source_mbps:.0f} MB/s (the real {REAL_FILE_BYTES / 1e9:.2f} GB file: "
              f"{result['real_file_hash_s']} s), of the frames {verify_mbps:.0f} MB/s (its "
              f"{REAL_INT8_FRAMES_BYTES / 1e9:.2f} GB int8 frames: {result['real_int8_frames_verify_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Generator throughput: frames per second on one core, per class and overall (a benchmark, not a test).

    python scripts/bench_synth.py [--frames 1024] [--snr 10] [--json]

numpy's FFTs and elementwise kernels are single-threaded, so one process is one core; `--workers N` in the
CLI scales across cores by generating blocks in parallel. Timings on a shared machine are noisy; the best of
`--repeats` runs is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from amc_cli import command  # noqa: E402

from model.radioml import CLASSES  # noqa: E402
from model.synth import generate_frames  # noqa: E402


@command
def main() -> int:
    p = argparse.ArgumentParser(description="frames/s of model.synth.generate_frames on one core")
    p.add_argument("--frames", type=int, default=1024, help="frames per class and repeat (default 1024)")
    p.add_argument("--snr", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    generate_frames(0, args.snr, 8, np.random.default_rng(0))  # warm caches and imports
    per_class = {}
    for i, name in enumerate(CLASSES):
        best = np.inf
        for r in range(args.repeats):
            t0 = time.perf_counter()
            generate_frames(i, args.snr, args.frames, np.random.default_rng([i, r]))
            best = min(best, time.perf_counter() - t0)
        per_class[name] = args.frames / best
    # a file holds every class equally often, so the overall rate is the harmonic mean
    overall = len(CLASSES) / sum(1 / v for v in per_class.values())
    if args.json:
        print(json.dumps({"frames_per_second_per_core": round(overall, 1),
                          "per_class": {k: round(v, 1) for k, v in per_class.items()}}, indent=2))
    else:
        for name, rate in per_class.items():
            print(f"{name:>10s} {rate:8.0f} frames/s")
        print(f"{'overall':>10s} {overall:8.0f} frames/s per core (mixed classes, as in a file)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

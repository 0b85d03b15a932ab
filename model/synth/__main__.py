"""Command line: write a synthetic RadioML-schema file and/or a preview picture of the classes.

    python -m model.synth --out data/synthetic.h5 --frames-per-block 64 [--seed 0] [--workers 2]
    python -m model.synth --preview classes.png [--preview-snr 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from amc_cli import command
from model.radioml import N_BLOCKS


def _int_at_least(minimum: int, what: str = ""):
    """argparse type: an integer >= minimum, with a message that names the bound."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            bound = "non-negative" if minimum == 0 else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"{what}{value} must be {bound}")
        return value
    return parse


_positive_int = _int_at_least(1)
_seed = _int_at_least(0, "seed ")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m model.synth",
        description="Write a synthetic RadioML 2018.01A-like HDF5 file (same schema: X, Y, Z) and/or a preview "
        "PNG of all 24 classes. Accuracy on synthetic data is not accuracy on RadioML 2018.01A.",
    )
    p.add_argument("--out", type=Path, help="HDF5 file to write (e.g. data/synthetic.h5)")
    p.add_argument("--frames-per-block", type=_positive_int, default=64,
                   help="frames per (class, SNR) block; the real file has 4096 (default 64: 39936 frames)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the whole file (default 0)")
    p.add_argument("--workers", type=_positive_int, default=1, help="processes generating blocks (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--preview", type=Path, help="PNG to draw: one frame per class, scatter and time series")
    p.add_argument("--preview-snr", type=float, default=30.0, help="SNR of the preview frames in dB (default 30)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary of what was written")
    args = p.parse_args(argv)
    if args.out is None and args.preview is None:
        p.error("nothing to do: give --out FILE.h5 and/or --preview FILE.png")
    if args.out is not None:
        if args.out.is_dir():
            p.error(f"--out {args.out} is a directory; give a file name such as {args.out / 'synthetic.h5'}")
        if args.out.exists() and not args.overwrite:
            p.error(f"{args.out} exists; pass --overwrite to replace it")
    if args.preview is not None and args.preview.suffix.lower() != ".png":
        p.error(f"--preview {args.preview} must end in .png")
    if args.workers > (os.cpu_count() or 1) * 4:
        p.error(f"--workers {args.workers} is far above this machine's {os.cpu_count()} CPUs")
    return args


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary: dict = {}
    if args.out is not None:
        from model.synth.writer import write_synthetic_file

        t0 = time.perf_counter()
        path = write_synthetic_file(
            args.out, args.frames_per_block, args.seed, progress=not args.no_progress, workers=args.workers
        )
        seconds = time.perf_counter() - t0
        n = N_BLOCKS * args.frames_per_block
        summary.update(out=str(path), frames=n, frames_per_block=args.frames_per_block, seed=args.seed,
                       seconds=round(seconds, 2), frames_per_second=round(n / seconds, 1))
        if not args.json:
            print(f"wrote {path}: {n} frames ({args.frames_per_block} per block) in {seconds:.1f} s", file=sys.stderr)
    if args.preview is not None:
        from model.synth.preview import draw_preview

        summary["preview"] = str(draw_preview(args.preview, args.preview_snr, args.seed))
        if not args.json:
            print(f"wrote {args.preview}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

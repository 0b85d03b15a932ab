"""Benchmark: open-source synthesis (compile/synth.py) of the tiny fixture's accelerator, time and peak memory.

    python scripts/bench_synthesis.py [--build DIR]

Compiles tests/fixtures/compile/tiny_vgg for the ZCU104 into hw/builds/bench-tiny_vgg-zcu104 when that
build is missing, then synthesizes it and prints wall time and Yosys's peak resident memory (the child
process's maximum RSS). Figures only: no assertion on them.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from amc_cli import command  # noqa: E402


@command
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(ROOT / "hw" / "builds" / "bench-tiny_vgg-zcu104"))
    a = ap.parse_args()
    from compile.config import config_from_build, is_build_folder, make_config
    from compile.runner import run_build
    from compile.synth import synthesize

    if not is_build_folder(a.build):
        cfg = make_config(ROOT / "tests" / "fixtures" / "compile" / "tiny_vgg", board="zcu104", out_dir=a.build)
        run_build(cfg, log=lambda m: None)
    cfg = config_from_build(a.build)
    t0 = time.time()
    s = synthesize(cfg, log=lambda m: None)
    wall = time.time() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    t = s["total"]
    print(f"synthesis of {Path(a.build).name}: {wall:.0f} s wall (Yosys {s['seconds']:.0f} s), Yosys peak memory "
          f"{peak_mb:,.0f} MB; {t['LUT'] + t['LUTRAM'] + t['SRL']:,} LUT sites, {t['FF']:,} FF, {t['DSP']} DSP, "
          f"{t['BRAM_18K']} BRAM_18K")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sweep of MVAU_rtl / VVAU_rtl's output queue under back-pressure at one result per cycle (MW == SIMD):
for each SIMD, the single node of tests/compile/rtlsim/test_rtlsim_mvau_queue.py streamed with the output ready
`--ready` of the cycles, against three finn-rtllib variants:

  upstream  finn-plus 1.6.1's finn-rtllib (+ the overlay's Verilator syntax patches 0001/0002 only)
  fixed     the whole overlay (compile/rtl_overlay/0003-mvu_vvu_axi-output-queue-depth.patch)
  probe     the fix's corrected core latency D but without its "+ 1" (MAX_IN_FLIGHT = D): shows that
            the extra entry is needed, i.e. that D + 2 results really do queue up

Prints one line per (SIMD, variant): "overflow", "exact" or "MISMATCH", and the seconds taken. The node,
the rtllib variants and the check are compile/rtlsim/single_node.py's, as the test's.

  .venv/bin/python -m research.mvau_queue_sweep                       # ZCU104 (DSP48E2), SIMD 1..9,12,16
  .venv/bin/python -m research.mvau_queue_sweep --part xcvc1902-vsva2197-2MP-e-S --wdt INT4 --idt UINT4
  .venv/bin/python -m research.mvau_queue_sweep --op vvau --part xcvc1902-vsva2197-2MP-e-S --simd 1 2 3 4 9
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from amc_cli import command


@command
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--op", choices=["mvau", "vvau"], default="mvau")
    ap.add_argument("--simd", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16])
    ap.add_argument("--part", default="xczu7ev-ffvc1156-2-e")
    ap.add_argument("--idt", default="UINT4")
    ap.add_argument("--wdt", default="INT4")
    ap.add_argument("--ready", type=float, default=0.3)
    ap.add_argument("--valid", type=float, default=1.0)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=1, help="seeds per (SIMD, variant); a variant overflows if any does")
    ap.add_argument("--variants", nargs="+", default=["upstream", "fixed", "probe"])
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args()

    from compile.finnenv import init_finn

    work = a.work or Path(tempfile.mkdtemp(prefix="mvau_queue_sweep_"))
    init_finn(work / "codegen")
    from finn.util.settings import get_settings

    from compile.rtlsim.sim import SimulationError
    from compile.rtlsim import single_node as t

    libs = {"fixed": Path(get_settings().finn_rtllib),
            "upstream": t.rtllib_without(work / "rtllib_upstream"),
            # the fix with "MAX_IN_FLIGHT = CORE_PIPELINE_DEPTH + 1" turned back into "... = CORE_PIPELINE_DEPTH"
            "probe": t.rtllib_without(work / "rtllib_probe", exclude=(), extra_sed=[
                r"s/MAX_IN_FLIGHT = CORE_PIPELINE_DEPTH + 1;/MAX_IN_FLIGHT = CORE_PIPELINE_DEPTH;/"])}
    assert "CORE_PIPELINE_DEPTH + 1" not in (libs["probe"] / "mvu" / "mvu_vvu_axi.sv").read_text()
    print(f"# {a.op} part={a.part} idt={a.idt} wdt={a.wdt} ready={a.ready} valid={a.valid} frames={a.frames} "
          f"seeds={a.seeds} work={work}", flush=True)
    bad = 0
    for simd in a.simd:
        build = t.mvau_model if a.op == "mvau" else t.vvau_model
        model, name = build(simd, work / f"m{simd}", idt=a.idt, wdt=a.wdt, part=a.part)
        for v in a.variants:
            t0 = time.time()
            outcome = "exact"
            for seed in range(a.seeds):
                try:
                    c = t.run_check(model, name, libs[v], work / f"{v}{simd}", frames=a.frames, ready_prob=a.ready,
                                    valid_prob=a.valid, seed=seed)
                    if not c.bit_exact:
                        outcome = f"MISMATCH ({c.first_mismatch})"
                        break
                except SimulationError as e:
                    outcome = "overflow" if "Overflowing output queue" in str(e) else f"ERROR {str(e)[:200]}"
                    break
            bad += v == "fixed" and outcome != "exact"
            print(f"SIMD={simd:3d} {v:9s} {outcome} ({time.time() - t0:.0f}s)", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

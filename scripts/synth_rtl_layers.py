"""Our RTL cores (compile/hwops/hdl) synthesized alone with Yosys, beside the LUT estimates the folding search uses.

    python scripts/synth_rtl_layers.py [--json]

For each core a few parameter points: LUT sites (logic + LUTRAM + SRL), FF, DSP as synthesized
(compile/synth.py's synthesize_module, synth_xilinx -family xcup), and the estimate of the matching op's
formula. The constants in compile/hwops/*.py come from these figures (docs/results.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from amc_cli import command  # noqa: E402


def points():
    """(op class, core module, its parameters, the op's LUT estimate for them) per parameter point."""
    from compile.hwops import elementwise_rtl, global_max_pool, pool_rtl, stream_concat, stream_fork
    from compile.hwops.lutram import lutram_luts

    for pe, bits in ((2, 4), (8, 4), (8, 8), (32, 4)):
        yield (pool_rtl.Pool_rtl, "global_max_pool",
               {"PE": pe, "ELEM_BITS": bits, "SIGNED": 1, "FOLDS": 1, "POSITIONS": 3},
               pool_rtl.LUTS_PER_ELEM_BIT * pe * bits + pool_rtl.LUTS_CONTROL)
    for pe, bits, folds in ((4, 4, 1), (16, 4, 1), (4, 4, 8)):
        memory = lutram_luts(pe * bits, folds) if folds > 1 else 0
        yield (global_max_pool.StreamingGlobalMaxPool_rtl, "global_max_pool",
               {"PE": pe, "ELEM_BITS": bits, "SIGNED": 1, "FOLDS": folds, "POSITIONS": 64},
               global_max_pool.LUTS_PER_ELEM_BIT * pe * bits + global_max_pool.LUTS_CONTROL + memory)
    for pe, bits in ((4, 5), (32, 5)):
        yield (elementwise_rtl.ElementwiseAdd_rtl, "elementwise_rtl",
               {"PE": pe, "LHS_BITS": bits - 1, "RHS_BITS": bits - 1, "OUT_BITS": bits, "LHS_SIGNED": 1,
                "RHS_SIGNED": 1},
               elementwise_rtl.LUTS_PER_SUM_BIT * pe * bits + elementwise_rtl.LUTS_CONTROL)
    for width, n in ((64, 3), (256, 8)):
        yield (stream_concat.StreamingConcat_rtl, "stream_concat_zip", {"WIDTH": width, "N": n}, stream_concat.LUTS_ZIP)
        yield (stream_fork.DuplicateStreams_rtl, "stream_fork", {"WIDTH": width, "N": n},
               stream_fork.LUTS_PER_FORK_OUTPUT * n)


@command
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    from compile.hwops.template_rtl import HDL_DIR
    from compile.synth import lut_sites, synthesize_module

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (op, top, params, estimate) in enumerate(points()):
            c = synthesize_module([HDL_DIR / f for f in op.CORES], top, params, Path(tmp) / str(i))
            rows.append({"op": op.__name__, "core": top, "params": params, "LUT_sites": lut_sites(c), "FF": c["FF"],
                         "DSP": c["DSP"], "estimate_LUT": estimate})
            if not a.json:
                r = rows[-1]
                print(f"{op.__name__:27s} {top:15s} {json.dumps(params):70s} LUT {r['LUT_sites']:5d} "
                      f"(estimate {estimate:5.0f}) FF {r['FF']:5d}", flush=True)
    if a.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

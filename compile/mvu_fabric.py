"""LUTs of FINN's RTL MVAU outside its DSP slices, which FINN's estimate leaves out (MVAU_rtl: 0, "DSP-based").

mvu.sv multiplies in DSP slices but adds across SIMD in the fabric: every pipeline of NUM_LANES lanes has, per
lane, a pipelined adder tree over the SIMD slices' share of that lane (add_multi, the lane's bits of the P
output), a second tree over the cross-lane overflow canaries, and one ACCU_WIDTH adder. So its LUT sites grow
with the adder trees' input bits and with the products (PE x SIMD: canary logic and the delay lines beside
each slice), plus a fixed part per layer (the AXI wrapper's queues and control). The three coefficients are a
least-squares fit to Yosys's synthesis of the RTL MVAUs of three builds (docs/results.md); the weight memory
is apart (folding.weight_lutram_luts).
"""
from __future__ import annotations

import math

from .dsp_packing import mvu_shape

LUTS_PER_TREE_BIT = 0.77  # adder-tree input bits: SIMD x the lanes' widths, over every pipeline
LUTS_PER_PRODUCT = 12.5  # PE x SIMD
LUTS_PER_LAYER = 210


def adder_tree_bits(pe: int, simd: int, widths: list[int]) -> int:
    """Input bits of all of mvu.sv's cross-SIMD adder trees: ceil(PE / lanes) pipelines of SIMD slices, each
    lane's tree taking that lane's bits; the first pipeline leaves its lowest lanes idle when PE is not a
    multiple of the lanes (PE_REM)."""
    lanes = len(widths)
    pipes = math.ceil(pe / lanes)
    idle = pipes * lanes - pe
    return simd * (pipes * sum(widths) - sum(widths[:idle]))


def mvau_rtl_fabric_luts(inst, part: str, model=None) -> int | None:
    """LUT sites (logic and shift registers) of an MVAU_rtl layer beside its DSPs and weights; None where
    mvu.sv does not serve it (DSP58's INT8 core)."""
    shape = mvu_shape(inst, part, model)
    if shape is None:
        return None
    bits = adder_tree_bits(shape.pe, shape.simd, shape.lane_widths())
    return round(LUTS_PER_TREE_BIT * bits + LUTS_PER_PRODUCT * shape.pe * shape.simd + LUTS_PER_LAYER)

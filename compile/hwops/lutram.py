"""Where a memory of our estimates sits, and what it costs there: the one distributed-RAM rule of the folding
search, the report and our RTL layers' estimates.

A LUT6 holds 64 words of one bit as distributed RAM (UG574, RAM64X1S), so a memory costs one LUT per bit per
64 words. Synthesis (Vivado's and Yosys's) puts a memory left to it (ram_style "auto") of at most that depth
in LUTs, never in block RAM; a deeper one it places by its own size thresholds, which our estimates leave as
FINN counts them.
"""
from __future__ import annotations

LUTRAM_DEPTH = 64  # words of one LUT6 as distributed RAM, one bit each (UG574, RAM64X1S)


def in_lutram(ram_style: str, depth: int) -> bool:
    """Whether a memory of `depth` words with this ram_style sits in distributed RAM: asked for
    ("distributed"), or left to synthesis ("auto") and at most one LUT deep."""
    return ram_style == "distributed" or (ram_style == "auto" and depth <= LUTRAM_DEPTH)


def lutram_luts(width_bits: int, depth: int) -> int:
    """LUTs of a memory of `depth` words of `width_bits` bits in distributed RAM."""
    return width_bits * -(-depth // LUTRAM_DEPTH)

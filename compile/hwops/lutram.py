"""Where a memory of our estimates sits, and what it costs there: the one distributed-RAM rule of the folding
search, the report and our RTL layers' estimates.

A LUT6 holds 64 words of one bit as distributed RAM (UG574, RAM64X1S). Synthesis (Vivado's and Yosys's) puts
a memory left to it (ram_style "auto") of at most that depth in LUTs, never in block RAM; a deeper one it
places by its own size thresholds, which our estimates leave as FINN counts them. A memory with one write
and one read port (every weight and running-maximum memory here) is built from the slice's simple dual-port
primitives, eight LUTs each, one of them the write address: 32 words of 14 bits (RAM32M16) or 64 words of
7 bits (RAM64M8).
"""
from __future__ import annotations

LUTRAM_DEPTH = 64  # words of one LUT6 as distributed RAM, one bit each (UG574, RAM64X1S)


def in_lutram(ram_style: str, depth: int) -> bool:
    """Whether a memory of `depth` words with this ram_style sits in distributed RAM: asked for
    ("distributed"), or left to synthesis ("auto") and at most one LUT deep."""
    return ram_style == "distributed" or (ram_style == "auto" and depth <= LUTRAM_DEPTH)


def lutram_luts(width_bits: int, depth: int) -> int:
    """LUTs of a simple dual-port memory of `depth` words of `width_bits` bits in distributed RAM."""
    if depth <= LUTRAM_DEPTH // 2:
        return 8 * -(-width_bits // 14)  # RAM32M16
    return 8 * -(-width_bits // 7) * -(-depth // LUTRAM_DEPTH)  # RAM64M8, one per 64 words

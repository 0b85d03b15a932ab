"""Symbol alphabets of the linearly modulated classes, each scaled to unit average energy.

APSK ring sizes and radius ratios follow DVB-S2 (16/32APSK, rate 3/4) and DVB-S2X (64APSK 4+12+20+28,
128APSK 16+16+16+16+16+48); the exact code-rate-dependent radii matter little once the channel has blurred
them, but ring counts and ratios decide what the classes look like. ASK is unipolar (levels 0..M-1), so OOK is
its two-level member.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _unit_energy(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.complex128)
    return points / np.sqrt(np.mean(np.abs(points) ** 2))


def ask(m: int) -> np.ndarray:
    return _unit_energy(np.arange(m, dtype=np.float64))


def psk(m: int) -> np.ndarray:
    offset = np.pi / 4 if m == 4 else 0.0  # QPSK drawn on the diagonals, as usual
    return _unit_energy(np.exp(1j * (2 * np.pi * np.arange(m) / m + offset)))


def square_qam(m: int) -> np.ndarray:
    side = int(round(np.sqrt(m)))
    if side * side != m:
        raise ValueError(f"{m}-QAM is not square")
    levels = np.arange(side) * 2.0 - (side - 1)
    return _unit_energy((levels[:, None] + 1j * levels[None, :]).ravel())


def cross_qam(m: int) -> np.ndarray:
    """32- and 128-QAM: a square of side 6 or 12 with a (side/6)-square removed from each corner."""
    side = {32: 6, 128: 12}[m]
    corner = side // 6
    levels = np.arange(side) * 2.0 - (side - 1)
    grid = levels[:, None] + 1j * levels[None, :]
    edge = side // 2 - corner  # |level index from centre| >= edge on both axes lies in a corner
    centred = np.abs(np.arange(side) - (side - 1) / 2)
    in_corner = (centred[:, None] >= edge) & (centred[None, :] >= edge)
    points = grid[~in_corner]
    assert points.size == m
    return _unit_energy(points)


def apsk(ring_sizes: tuple[int, ...], radii: tuple[float, ...]) -> np.ndarray:
    """Concentric PSK rings; odd rings are rotated by half a point spacing so neighbours interleave."""
    rings = []
    for i, (n, r) in enumerate(zip(ring_sizes, radii)):
        offset = np.pi / n if i % 2 else 0.0
        rings.append(r * np.exp(1j * (2 * np.pi * np.arange(n) / n + offset)))
    return _unit_energy(np.concatenate(rings))


APSK_RINGS: dict[int, tuple[tuple[int, ...], tuple[float, ...]]] = {
    16: ((4, 12), (1.0, 2.75)),
    32: ((4, 12, 16), (1.0, 2.84, 5.27)),
    64: ((4, 12, 20, 28), (1.0, 2.4, 4.3, 7.0)),
    128: ((16, 16, 16, 16, 16, 48), (1.0, 1.715, 2.118, 2.681, 2.75, 3.812)),
}


@lru_cache(maxsize=None)
def constellation(name: str) -> np.ndarray:
    """The alphabet of a linearly modulated class name (OOK, 4ASK, ..., 256QAM); read-only."""
    if name == "OOK":
        points = ask(2)
    elif name.endswith("ASK") and not name.endswith("APSK"):
        points = ask(int(name[:-3]))
    elif name == "BPSK":
        points = psk(2)
    elif name in ("QPSK", "OQPSK"):
        points = psk(4)
    elif name.endswith("APSK"):
        points = apsk(*APSK_RINGS[int(name[:-4])])
    elif name.endswith("PSK"):
        points = psk(int(name[:-3]))
    elif name in ("32QAM", "128QAM"):
        points = cross_qam(int(name[:-3]))
    elif name.endswith("QAM"):
        points = square_qam(int(name[:-3]))
    else:
        raise KeyError(f"{name} is not a linearly modulated class")
    points.setflags(write=False)
    return points

"""Pulse trains evaluated at arbitrary sample times, one symbol rate, timing and roll-off per frame.

Symbol-rate offset and random timing mean the symbol period is not a whole number of samples and differs from
frame to frame, so instead of upsampling and filtering (one filter per frame, then a resampler) each output
sample is computed directly as sum_n a[n] * p(t - n T) over the few symbols whose pulse reaches it. That is
exact up to the pulse's truncation, vectorised over frames, and costs (2 * span + 1) table look-ups per sample.

scipy.signal has no root-raised-cosine design, hence the closed form below.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import erfc

_EPS = 1e-7


@dataclass(frozen=True)
class SymbolClock:
    """Where each output sample falls on each frame's symbol grid.

    position[f, k] = (k - timing[f]) / sps[f] is sample k's time in symbols; `index` is its floor and
    `frac` the remainder in [0, 1). Symbol n of a frame is stored at column n + `offset` of its symbol array.
    """

    index: np.ndarray  # (F, N) int64
    frac: np.ndarray  # (F, N) float64
    offset: int
    n_symbols: int

    @classmethod
    def make(cls, sps: np.ndarray, timing: np.ndarray, n_samples: int, span: int) -> "SymbolClock":
        position = (np.arange(n_samples)[None, :] - timing[:, None]) / sps[:, None]
        index = np.floor(position).astype(np.int64)
        frac = position - index
        offset = span + 2  # timing < sps, so index >= -1; the window reaches `span` further back
        n_symbols = int(index.max()) + offset + span + 2
        return cls(index=index, frac=frac, offset=offset, n_symbols=n_symbols)

    def shifted(self, symbols: float) -> "SymbolClock":
        """The same clock delayed by `symbols` (0 <= symbols < 1): OQPSK's quadrature branch."""
        position_frac = self.frac - symbols
        borrow = position_frac < 0
        return SymbolClock(
            index=self.index - borrow, frac=position_frac + borrow, offset=self.offset, n_symbols=self.n_symbols
        )


def rrc(u: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Root-raised-cosine impulse response at time u (in symbols), unit energy per symbol up to a constant.

    The formula's removable singularities (u = 0 and |u| = 1/(4 beta)) are avoided by nudging u by at most
    1e-6 symbols, which changes the value by far less than float32 resolution.
    """
    u = np.where(np.abs(u) < _EPS, _EPS, u)
    four_bu = 4.0 * beta * u
    u = np.where(np.abs(1.0 - four_bu * four_bu) < _EPS, u + 10 * _EPS, u)
    four_bu = 4.0 * beta * u
    pu = np.pi * u
    num = np.sin(pu * (1.0 - beta)) + four_bu * np.cos(pu * (1.0 + beta))
    return num / (pu * (1.0 - four_bu * four_bu))


def raised_cosine(u: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Raised-cosine impulse response at time u (in symbols), 1 at u = 0 and 0 at every other whole symbol.

    The overall response of a root-raised-cosine transmitter followed by the receiver's matched filter: a
    Nyquist pulse, so the waveform passes through the symbols at the symbol instants (no inter-symbol
    interference) where a transmit-only RRC waveform does not. The removable singularity at |u| = 1/(2 beta)
    is avoided by nudging u as in `rrc`.
    """
    two_bu = 2.0 * beta * u
    u = np.where(np.abs(1.0 - two_bu * two_bu) < _EPS, u + 10 * _EPS, u)
    two_bu = 2.0 * beta * u
    return np.sinc(u) * np.cos(np.pi * beta * u) / (1.0 - two_bu * two_bu)


PULSES = {"rrc": rrc, "rc": raised_cosine}
"""Pulse shapes of the linear modulations by SynthConfig.pulse_shape name."""

RRC_TABLE_STEPS = 128
"""Table resolution per symbol. Linear interpolation between steps 1/128 symbol apart is accurate to ~1e-4
of the peak (-80 dB), far below anything the channel or float32 storage keeps, and 6x cheaper than
evaluating the formula for every tap of every sample."""


def rrc_train(symbols: np.ndarray, clock: SymbolClock, rolloff: np.ndarray, span: int,
              shape: str = "rrc") -> np.ndarray:
    """sum_n symbols[f, n] * p(t_k - n T) for every frame f and sample k; symbols indexed via `clock`.

    p is the root-raised cosine (`shape` "rrc") or the raised cosine ("rc"), of each frame's roll-off.

    The pulse of each frame is tabulated once on a grid of 1/RRC_TABLE_STEPS symbol and interpolated, and
    all gathers use flat indices computed once, so each tap costs a few vector operations.
    """
    n_frames, n_samples = clock.index.shape
    steps = RRC_TABLE_STEPS
    grid = np.arange((2 * span + 3) * steps + 1) / steps - (span + 1)  # covers u in [-span - 1, span + 2]
    table = PULSES[shape](grid[None, :], rolloff[:, None])
    slope = np.diff(table, axis=1, append=table[:, -1:])
    table, slope = table.ravel(), slope.ravel()

    scaled = clock.frac * steps
    cell = np.floor(scaled)
    weight = scaled - cell
    table_at = cell.astype(np.int64) + (np.arange(n_frames) * grid.size)[:, None] + (span + 1) * steps
    symbol_at = clock.index + (clock.offset + np.arange(n_frames) * symbols.shape[1])[:, None]

    parts = [symbols.real] + ([symbols.imag] if np.iscomplexobj(symbols) else [])
    parts = [np.ascontiguousarray(p).ravel() for p in parts]
    sums = [np.zeros((n_frames, n_samples)) for _ in parts]
    for j in range(-span, span + 1):
        t = table_at - j * steps  # u = frac - j
        pulse = np.take(table, t)
        pulse += weight * np.take(slope, t)
        s = symbol_at + j
        for acc, flat in zip(sums, parts):
            acc += np.take(flat, s) * pulse
    return sums[0] + 1j * sums[1] if len(sums) == 2 else sums[0]


@lru_cache(maxsize=8)
def gmsk_phase_pulse(bt: float, span: int, steps_per_symbol: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Grid (in symbols) and values of the GMSK phase pulse q(u), rising from 0 to 1/2 over [-span, span].

    q is the integral of the Gaussian-filtered rectangular frequency pulse,
    g(u) = [Q(c (u - 1/2)) - Q(c (u + 1/2))] / 2 with c = 2 pi BT / sqrt(ln 2), integrated numerically.
    """
    u = np.linspace(-span, span, 2 * span * steps_per_symbol + 1)
    c = 2 * np.pi * bt / np.sqrt(np.log(2))
    q_fn = lambda x: 0.5 * erfc(x / np.sqrt(2))  # noqa: E731  Gaussian tail probability
    g = 0.5 * (q_fn(c * (u - 0.5)) - q_fn(c * (u + 0.5)))
    q = np.concatenate([[0.0], np.cumsum((g[1:] + g[:-1]) / 2 * np.diff(u))])
    q *= 0.5 / q[-1]
    return u, q


def gmsk_phase(bits: np.ndarray, clock: SymbolClock, bt: float, span: int) -> np.ndarray:
    """Continuous phase pi * sum_n a[n] q(t - n T) of GMSK (modulation index 1/2) for +-1 symbols `bits`."""
    grid, q = gmsk_phase_pulse(bt, span)
    # Symbols older than the pulse span contribute their full pi/2 each: an exclusive running sum.
    settled = np.concatenate([np.zeros((bits.shape[0], 1)), np.cumsum(bits, axis=1)], axis=1)
    phase = 0.5 * np.take_along_axis(settled, clock.index + (clock.offset - span), axis=1)
    for j in range(-span, span + 1):
        a = np.take_along_axis(bits, clock.index + (j + clock.offset), axis=1)
        phase += a * np.interp(clock.frac - j, grid, q)
    return np.pi * phase

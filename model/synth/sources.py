"""Clean complex baseband of each class, before the channel: what the transmitter emits.

Digital classes draw random symbols and shape them with per-frame roll-off, symbol rate and timing; analog
classes are driven by a random band-limited message. Every source returns (F, n_samples) complex128 with
roughly unit power; the channel decides the final scale.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import hilbert

from model.radioml import CLASSES
from model.synth.config import SynthConfig
from model.synth.constellations import constellation
from model.synth.pulses import SymbolClock, gmsk_phase, rrc_train

ANALOG = ("AM-SSB-WC", "AM-SSB-SC", "AM-DSB-WC", "AM-DSB-SC", "FM")
LINEAR = tuple(c for c in CLASSES if c not in ANALOG + ("GMSK", "OQPSK"))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], n)


def _clock(rng: np.random.Generator, n: int, n_samples: int, span: int, cfg: SynthConfig,
           samples_per_symbol: float | None = None) -> SymbolClock:
    """Per-frame symbol period (nominal sps with a symbol-rate offset) and timing phase within one symbol."""
    delta = rng.uniform(-cfg.symbol_rate_offset_max, cfg.symbol_rate_offset_max, n)
    sps = (samples_per_symbol or cfg.samples_per_symbol) / (1.0 + delta)
    timing = rng.uniform(0.0, 1.0, n) * sps
    return SymbolClock.make(sps, timing, n_samples, span)


def linear(name: str, rng: np.random.Generator, n: int, n_samples: int, cfg: SynthConfig) -> np.ndarray:
    """Constellation symbols shaped by (root-)raised-cosine pulses (ASK, PSK, APSK, QAM); QAM and APSK at
    cfg.qam_apsk_samples_per_symbol where that is set."""
    family_sps = cfg.qam_apsk_samples_per_symbol if name.endswith(("QAM", "APSK")) else None
    clock = _clock(rng, n, n_samples, cfg.rrc_span_symbols, cfg, family_sps)
    alphabet = constellation(name)
    symbols = alphabet[rng.integers(0, alphabet.size, (n, clock.n_symbols))]
    rolloff = _uniform(rng, cfg.rolloff_range, n)
    return rrc_train(symbols, clock, rolloff, cfg.rrc_span_symbols, cfg.pulse_shape)


def oqpsk(rng: np.random.Generator, n: int, n_samples: int, cfg: SynthConfig) -> np.ndarray:
    """QPSK whose quadrature branch lags by half a symbol, so I and Q never switch together."""
    span = cfg.rrc_span_symbols
    clock = _clock(rng, n, n_samples, span, cfg)
    bits = rng.integers(0, 2, (2, n, clock.n_symbols)) * 2.0 - 1.0
    rolloff = _uniform(rng, cfg.rolloff_range, n)
    i = rrc_train(bits[0], clock, rolloff, span, cfg.pulse_shape)
    q = rrc_train(bits[1], clock.shifted(0.5), rolloff, span, cfg.pulse_shape)
    return (i + 1j * q) / np.sqrt(2)


def gmsk(rng: np.random.Generator, n: int, n_samples: int, cfg: SynthConfig) -> np.ndarray:
    """Constant-envelope continuous-phase FSK with Gaussian-filtered +-1 frequency pulses (h = 1/2)."""
    span = cfg.gmsk_span_symbols
    clock = _clock(rng, n, n_samples, span, cfg)
    bits = rng.integers(0, 2, (n, clock.n_symbols)) * 2.0 - 1.0
    return np.exp(1j * gmsk_phase(bits, clock, cfg.gmsk_bt, span))


def message(rng: np.random.Generator, n: int, n_samples: int, cfg: SynthConfig,
            bandwidth: tuple[float, float] | None = None) -> np.ndarray:
    """Real zero-mean unit-RMS Gaussian message, low-passed at a per-frame cut-off.

    Shaped in the frequency domain (a mask per frame) rather than with scipy.signal filters, because each frame
    has its own cut-off; the circular shaping keeps the process stationary across the frame.
    """
    white = rng.standard_normal((n, n_samples))
    freqs = np.fft.rfftfreq(n_samples)
    cutoff = _uniform(rng, bandwidth or cfg.message_bandwidth_range, n)[:, None]
    mask = (freqs[None, :] <= cutoff) & (freqs[None, :] > 0)  # no DC: audio has none
    m = np.fft.irfft(np.fft.rfft(white, axis=1) * mask, n=n_samples, axis=1)
    return m / np.sqrt(np.mean(m * m, axis=1, keepdims=True))


def am(name: str, rng: np.random.Generator, n: int, n_samples: int, cfg: SynthConfig) -> np.ndarray:
    """Double- or single-sideband AM, with or without a (possibly weak) carrier.

    SSB takes the analytic signal of the message (upper sideband) or its conjugate (lower), half of each.
    Carrier amplitudes (relative to the message's RMS): am_carrier_range for AM-DSB-WC, ssb_carrier_range for
    AM-SSB-WC and ssb_residual_carrier_range for AM-SSB-SC (the real file's SSB frames are carrier-dominated).
    """
    m = message(rng, n, n_samples, cfg)
    if "SSB" in name:
        sideband = hilbert(m, axis=1) / np.sqrt(2)  # unit RMS like the message
        lower = rng.random(n) < 0.5
        sideband[lower] = np.conj(sideband[lower])
    else:
        sideband = m.astype(np.complex128)
    if name == "AM-SSB-WC" and cfg.ssb_carrier_range is not None:
        carrier = cfg.ssb_carrier_range
    elif name == "AM-SSB-SC" and cfg.ssb_residual_carrier_range != (0.0, 0.0):
        carrier = cfg.ssb_residual_carrier_range
    elif name.endswith("-WC"):
        carrier = cfg.am_carrier_range
    else:
        return sideband
    return sideband + _uniform(rng, carrier, n)[:, None]


def fm(rng: np.random.Generator, n: int, n_samples: int, cfg: SynthConfig) -> np.ndarray:
    """Frequency modulation: the phase is the running sum of the message times a per-frame deviation."""
    m = message(rng, n, n_samples, cfg, cfg.fm_message_bandwidth_range)
    deviation = _uniform(rng, cfg.fm_deviation_range, n)[:, None]
    return np.exp(2j * np.pi * np.cumsum(deviation * m, axis=1))


def baseband(name: str, rng: np.random.Generator, n: int, n_samples: int, cfg: SynthConfig) -> np.ndarray:
    """The transmitted complex baseband of `n` frames of class `name`, (n, n_samples) complex128."""
    if name in LINEAR:
        return linear(name, rng, n, n_samples, cfg)
    if name == "OQPSK":
        return oqpsk(rng, n, n_samples, cfg)
    if name == "GMSK":
        return gmsk(rng, n, n_samples, cfg)
    if name == "FM":
        return fm(rng, n, n_samples, cfg)
    if name.startswith("AM-"):
        return am(name, rng, n, n_samples, cfg)
    raise KeyError(f"no source for class {name!r}")

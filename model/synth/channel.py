"""The propagation and receiver impairments DeepSig list: multipath fading, carrier offset, noise, scaling.

Applied in physical order: the multipath channel, then the receiver's carrier frequency and phase error (and
optional phase noise), then thermal noise at the block's SNR, then per-frame normalisation (unit power or unit mean amplitude).
"""

from __future__ import annotations

import numpy as np

from model.synth.config import SynthConfig


def _complex_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Circular complex Gaussian samples of unit variance."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * np.sqrt(0.5)


def fading_taps(rng: np.random.Generator, n: int, cfg: SynthConfig) -> np.ndarray:
    """(n, n_taps) Rician block-fading taps: a direct path plus Rayleigh scatter on an exponential profile.

    The channel is static over one frame (1024 samples is short next to any plausible coherence time).
    Total expected power is 1.
    """
    delays = np.asarray(cfg.multipath_delays, dtype=np.float64)
    profile = 10.0 ** (-cfg.multipath_decay_db_per_sample * delays / 10.0)
    profile /= profile.sum()
    k = 10.0 ** (rng.uniform(*cfg.rician_k_db_range, n) / 10.0)[:, None]
    scatter = _complex_normal(rng, (n, delays.size)) * np.sqrt(profile / (k + 1.0))
    direct = np.sqrt(k / (k + 1.0))[:, 0] * np.exp(2j * np.pi * rng.random(n))
    scatter[:, 0] += direct
    return scatter


def multipath(x: np.ndarray, taps: np.ndarray, delays: tuple[int, ...], n_out: int) -> np.ndarray:
    """y[k] = sum_d taps[d] x[k + D - delay_d]: the last `n_out` samples, so every output has full history.

    Each frame has its own taps, so this is a short loop over taps rather than one scipy.signal filter.
    """
    d_max = max(delays)
    y = np.zeros((x.shape[0], n_out), dtype=np.complex128)
    for t, d in enumerate(delays):
        y += taps[:, t : t + 1] * x[:, d_max - d : d_max - d + n_out]
    return y


def carrier_offset(rng: np.random.Generator, x: np.ndarray, cfg: SynthConfig) -> np.ndarray:
    """Rotate by a per-frame frequency offset, a uniform random phase and, if configured, Wiener phase noise."""
    n, n_samples = x.shape
    freq = rng.uniform(-cfg.cfo_max, cfg.cfo_max, n)[:, None]
    phase = 2 * np.pi * (freq * np.arange(n_samples)[None, :] + rng.random(n)[:, None])
    if cfg.phase_noise_std > 0:
        phase = phase + np.cumsum(rng.normal(0.0, cfg.phase_noise_std, (n, n_samples)), axis=1)
    return x * np.exp(1j * phase)


SNR_DB_PER_LABEL_DB = {"power": 1.0, "amplitude": 2.0}
"""True SNR in dB per dB of the label under each SynthConfig.snr_rule: "amplitude" takes the label for the
noise's standard deviation (DeepSig's 2016 generator: noise_amp = 10**(-snr/10.0)), so its power falls twice as fast."""


def awgn(rng: np.random.Generator, x: np.ndarray, snr_db: float, cfg: SynthConfig) -> np.ndarray:
    """Add complex white noise so that frame power / noise power in `cfg.snr_bandwidth` of the band is the SNR
    that the label means under `cfg.snr_rule`."""
    power = np.mean(np.abs(x) ** 2, axis=1, keepdims=True)
    true_snr_db = snr_db * SNR_DB_PER_LABEL_DB[cfg.snr_rule]
    noise_var = power / (10.0 ** (true_snr_db / 10.0) * cfg.snr_bandwidth)
    return x + _complex_normal(rng, x.shape) * np.sqrt(noise_var)


def unit_power(x: np.ndarray) -> np.ndarray:
    """Scale every frame to mean |x|^2 = 1, as the real file's frames are."""
    return x / np.sqrt(np.mean(np.abs(x) ** 2, axis=1, keepdims=True))


def unit_mean_amplitude(x: np.ndarray) -> np.ndarray:
    """Scale every frame to mean |x| = 1 (the L1 rule of DeepSig's public 2016 generator, at unit scale)."""
    return x / np.mean(np.abs(x), axis=1, keepdims=True)


def unit_deviation(x: np.ndarray) -> np.ndarray:
    """Scale every frame to unit standard deviation about its complex mean (x / x.std(), numpy's rule)."""
    return x / np.std(x, axis=1, keepdims=True)


NORMALISATIONS = {"power": unit_power, "amplitude": unit_mean_amplitude, "deviation": unit_deviation}


def apply_channel(
    rng: np.random.Generator, clean: np.ndarray, snr_db: float, n_out: int, cfg: SynthConfig
) -> np.ndarray:
    """Everything between transmitter and file: `clean` has n_out + cfg.max_delay samples per frame."""
    faded = multipath(clean, fading_taps(rng, clean.shape[0], cfg), cfg.multipath_delays, n_out)
    received = awgn(rng, carrier_offset(rng, faded, cfg), snr_db, cfg)
    return NORMALISATIONS[cfg.frame_normalisation](received)

"""Classical receiver statistics that check what the generator's frames carry, with no training involved.

A CNN that confuses two classes may lack data or may face frames that no longer tell them apart; these
statistics separate the two cases for the PSK orders, the confusion a small training set leaves on this
generator's frames.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from model.synth.pulses import rrc


def psk_order_statistics(
    frames: np.ndarray,
    orders: tuple[int, ...] = (8, 16, 32),
    samples_per_symbol: int = 8,
    rolloff: float = 0.25,
    segment_symbols: int = 16,
    span_symbols: int = 6,
    pulse: str = "rrc",
) -> np.ndarray:
    """(n_frames, len(orders)): |mean(p^M)| of each frame, M in `orders`.

    p is the phase (unit-modulus) of the received signal at one sample per symbol after the receiver's filter
    (`pulse` "rrc": the RRC matched filter; "rc": frames whose pulse is already a raised cosine need only
    the noise outside the band (1 + rolloff) / (2 sps) removed), the timing
    offset chosen per segment of `segment_symbols` symbols (short enough that a 1% symbol-rate error drifts
    by under a fifth of a symbol). An M-PSK signal's p^M is one point, so the statistic is near 1 at M and at
    multiples of M and low below M: 8PSK is high from M = 8, 16PSK from 16, 32PSK only at 32. A carrier
    offset turns p^M slowly, multipath and noise scatter it; both lower the statistic.
    """
    if frames.ndim != 3 or frames.shape[2] != 2:
        raise ValueError(f"frames must be (n, samples, 2) I/Q, got shape {frames.shape}")
    sps = int(samples_per_symbol)
    z = frames[..., 0].astype(np.float64) + 1j * frames[..., 1]
    if pulse == "rrc":
        taps = rrc(np.arange(-span_symbols * sps, span_symbols * sps + 1) / sps, np.asarray(rolloff))
        y = fftconvolve(z, taps[None, :] / np.linalg.norm(taps), mode="same", axes=1)
    elif pulse == "rc":  # already a Nyquist pulse: only the noise outside the signal's band is filtered off
        spectrum = np.fft.fft(z, axis=1)
        spectrum[:, np.abs(np.fft.fftfreq(z.shape[1])) > (1 + rolloff) / (2 * sps)] = 0
        y = np.fft.ifft(spectrum, axis=1)
    else:
        raise ValueError(f"pulse must be 'rrc' or 'rc', got {pulse!r}")
    y = y[:, span_symbols * sps : -span_symbols * sps]  # drop the filter's edges
    p = y / np.maximum(np.abs(y), 1e-12)
    seg = segment_symbols * sps
    n_seg = p.shape[1] // seg
    if n_seg == 0:
        raise ValueError(f"frames of {frames.shape[1]} samples are too short for {segment_symbols}-symbol segments")
    out = np.empty((len(frames), len(orders)))
    for i, m in enumerate(orders):
        pm = (p[:, : n_seg * seg] ** m).reshape(len(frames), n_seg, segment_symbols, sps)
        per_offset = np.abs(pm.mean(axis=2))  # (frames, segments, timing offsets)
        out[:, i] = per_offset.max(axis=2).mean(axis=1)
    return out


def nearest_centroid_accuracy(stats: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-class accuracy on odd-numbered frames of a standardised nearest-centroid rule fitted on even ones.

    labels are 0..n_classes-1; the rule is the simplest one that uses every statistic, so its accuracy is a
    floor on what the frames carry.
    """
    n_classes = int(labels.max()) + 1
    fit = np.arange(len(stats)) % 2 == 0
    scale = stats[fit].std(axis=0)
    centroids = np.stack([stats[fit & (labels == c)].mean(axis=0) for c in range(n_classes)])
    dist = (((stats[~fit, None, :] - centroids[None]) / scale) ** 2).sum(axis=-1)
    predicted, truth = dist.argmin(axis=1), labels[~fit]
    return np.array([np.mean(predicted[truth == c] == c) for c in range(n_classes)])

"""Every knob of the synthetic generator in one place, so calibration changes one object, not the code.

DeepSig describe RadioML 2018.01A as GNU Radio signals passed through a channel model with root-raised-cosine
pulses, symbol-rate and timing offset, carrier frequency and phase offset, multipath fading and thermal noise,
sampled at about 8 samples per symbol. They do not publish the parameter values. The defaults below are
physically plausible choices, calibrated in two rounds against the real baseline's accuracy-vs-SNR curve
(research/calibrate_synth.py trains a small proxy CNN on 128 frames per block and compares its curve).

Round 1 moved the carrier offset, the analog sources (message_bandwidth_range, am_carrier_range) and
snr_bandwidth until the proxy matched the low-SNR half of the curve. Round 2 moved the fading
(rician_k_db_range (0, 20) -> (10, 30)) and the carrier offset again (cfo_max 1e-4 -> 1e-5): under
round 1's heavy fading a classical matched-filter statistic could not resolve a quarter of 16PSK frames even
at +30 dB (model.synth.diagnostics, research/psk_separability.py), and the baseline's float twin did not
learn 16PSK/32PSK (two seeds), which the real baseline does not confuse (research/plateau_synth.py); on
round 2's channel it did with one of two seeds. Round 2 kept the proxy's curve within its noise from -20
to +8 dB and lifted its plateau. The generator of round 1 is
model.synth.variants' `round1` variant; README says which figures were measured on it.

Round 3 calibrated against networks trained on the real file (model.synth.critic, research/critic_synth.py:
the published baseline VGG10, Imperial_IPC1, AaronNet32++), which had recognised round 2's frames of only 6
to 8 classes (docs/synthetic-data.md). One change at a time, each motivated by their confusions: a raised-
cosine pulse as the file sees it (transmit RRC and the receiver's matched filter; round 2's transmit-only
RRC waveform made every QAM/APSK look like 256QAM), frames scaled to unit standard deviation about their
mean (ASK and OOK are recognised only with the power that rule gives them), carrier-dominated AM-SSB (a bare
carrier is what the critics call AM-SSB-WC), narrow-band FM (round 2's FM was taken for GMSK) and GNU Radio's
roll-off 0.35. Round 2 is ROUND2_CONFIG below and model.synth.variants' `round2` variant.

Round 4 (the default) made two changes. QAM and APSK are drawn at 9 samples per symbol and every other class
at 8 (qam_apsk_samples_per_symbol): the one real frame, 16QAM, has the autocorrelation and bandwidths of 9 at
roll-off 0.35, and the critics read QAM/APSK better at 9 but PSK/ASK/GMSK worse. And the SNR label sets the
noise's standard deviation over the full band (snr_rule "amplitude", snr_bandwidth 1.0), as DeepSig's public
2016 generator does: the true SNR in dB is twice the label, and the critics' curve becomes flat from +10 dB like
the real one. Critics from +10 dB (synthetic, seed 0, 8 frames per class and SNR;
`python -m research.critic_synth --variant round3 default --per-block 8`): baseline 0.557 -> 0.637, Imperial
0.598 -> 0.667, AaronNet 0.561 -> 0.589 (real file: baseline 0.92); -20 dB 0.05/0.03/0.05. Every other change tried (all
classes at 9-10 sps, full-band SNR alone, speech-band AM, QAM/APSK scaling, DVB-S2X 64APSK rings, OQPSK pulses,
roll-off, Rician K) was not kept; docs/synthetic-data.md lists them with their figures. Round 3 is
ROUND3_CONFIG and the `round3` variant.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class SynthConfig:
    """Signal and channel parameters. Frequencies are in cycles per sample (the sample rate is 1).

    A range ``(lo, hi)`` means one value is drawn uniformly per frame.
    """

    # --- pulse shaping and timing -------------------------------------------------------------------------
    samples_per_symbol: float = 8.0
    """Nominal oversampling; the signal then occupies about (1 + roll-off) / 8 of the sampled band."""
    qam_apsk_samples_per_symbol: float | None = 9.0
    """Oversampling of the QAM and APSK classes (None: samples_per_symbol). The one real frame here, a 16QAM
    one, has the autocorrelation and the 50 %/90 % power bandwidths of 9 samples per symbol at roll-off 0.35
    (0.024/0.046 cycles/sample; 8 sps gives 0.029/0.053); the critics read the PSK, ASK and GMSK frames best
    at 8 (at 9 they lose 8PSK/16PSK/GMSK) and the QAM/APSK frames at 9. Calibration round 4."""
    rolloff_range: tuple[float, float] = (0.35, 0.35)
    """(Root-)raised-cosine roll-off, drawn per frame. 0.35 is GNU Radio's default excess bandwidth, which
    DeepSig's public RadioML 2016 generator used (round 2 drew 0.1-0.4)."""
    pulse_shape: str = "rc"
    """Pulse of the linear modulations as the file sees it: "rrc", the transmitter's root-raised cosine alone,
    or "rc", the raised cosine that a transmit RRC and the receiver's matched RRC filter make together
    (a Nyquist pulse: the waveform passes through the symbols at the symbol instants)."""
    symbol_rate_offset_max: float = 0.01
    """Relative symbol-rate error |delta|: the frame's samples per symbol are sps / (1 + delta)."""
    rrc_span_symbols: int = 6
    """One-sided RRC truncation in symbols; 6 keeps the truncated tails below -30 dB at roll-off 0.1."""
    gmsk_bt: float = 0.3
    """Gaussian filter bandwidth-time product of GMSK (GSM's value)."""
    gmsk_span_symbols: int = 3
    """One-sided span of the GMSK phase pulse; at BT 0.3 it has settled to within 1e-6 after 3 symbols."""

    # --- analog sources ----------------------------------------------------------------------------------
    message_bandwidth_range: tuple[float, float] = (0.04, 0.08)
    """Low-pass cut-off of the random message that drives AM and FM (digital signals reach ~0.07 at 8 sps)."""
    am_carrier_range: tuple[float, float] = (0.0, 0.5)
    """Carrier amplitude of the AM "with carrier" variants, relative to the message's RMS. A carrier that can
    be weak makes WC and SC genuinely confusable, as in the real data."""
    ssb_carrier_range: tuple[float, float] | None = (10.0, 40.0)
    """Carrier amplitude (relative to the sideband's RMS) of AM-SSB-WC; None: am_carrier_range. The real-trained
    critics take a bare carrier for AM-SSB-WC: the real file's SSB frames are carrier-dominated."""
    ssb_residual_carrier_range: tuple[float, float] = (3.0, 6.0)
    """Carrier left in AM-SSB-SC (imperfect suppression), relative to the sideband's RMS; 0 is ideal SSB-SC.
    The critics recognise AM-SSB-SC only with a carrier a few times the sideband's RMS."""
    fm_message_bandwidth_range: tuple[float, float] | None = (0.005, 0.03)
    """Cut-off of FM's message (None: message_bandwidth_range): audio of a few kHz at ~200 kS/s."""
    fm_deviation_range: tuple[float, float] = (0.004, 0.012)
    """FM peak-ish frequency deviation (deviation per unit-RMS message), cycles per sample."""

    # --- channel -----------------------------------------------------------------------------------------
    cfo_max: float = 1e-5
    """Carrier frequency offset |f|, cycles per sample: 1e-5 turns the constellation up to 3.7 degrees per frame
    (round 1 had 1e-4, up to 37 degrees)."""
    phase_noise_std: float = 0.0
    """Standard deviation (radians) of the per-sample step of a Wiener phase-noise process."""
    multipath_delays: tuple[int, ...] = (0, 1, 2, 3)
    """Tap delays in samples (0 is the direct path); 3 samples is under half a symbol at 8 sps."""
    multipath_decay_db_per_sample: float = 3.0
    """Exponential power-delay profile of the scattered part: each sample of delay costs this many dB."""
    rician_k_db_range: tuple[float, float] = (10.0, 30.0)
    """Rician K factor of the direct path in dB, per frame: 0 dB is heavy fading, 30 dB nearly a clean line.
    Calibration round 2 moved it from (0, 20), under which a classical statistic could not resolve a quarter
    of 16PSK frames and the baseline's float twin did not learn 16/32PSK (see the module docstring)."""

    # --- noise -------------------------------------------------------------------------------------------
    snr_rule: str = "amplitude"
    """How a block's SNR label sets the noise. "power": noise variance = signal power / (10^(SNR/10) *
    snr_bandwidth) (rounds 1-3). "amplitude": DeepSig's public RadioML 2016 generator's rule, which sets the
    standard deviation of GNU Radio's channel noise to 10^(-SNR/10) (`noise_amp = 10**(-snr/10.0)`) for a
    signal of about unit power: noise variance = signal power * 10^(-2 SNR/10) / snr_bandwidth, so the true
    full-band SNR in dB is twice the label (+10 dB is 20 dB, -10 dB is -20 dB). Round 4: under it the critics'
    accuracy-vs-SNR curve takes the real one's shape (flat from +10 dB) and all three gain."""
    snr_bandwidth: float = 1.0
    """Fraction of the sampled band over which SNR is measured: noise variance = signal power / (SNR * this).
    1.0 is the literal full-band definition (signal power over all the noise in the sampled band), GNU Radio's
    per-sample channel noise, under which a signal at 8 sps sees an in-band SNR ~9 dB above its label; 1/8
    would make the label roughly Es/N0. Rounds 1-3 used 0.5 with snr_rule "power" (calibrated against a proxy
    classifier trained on the stand-in); round 4's "amplitude" rule is DeepSig's, over the full band."""

    # --- the file ------------------------------------------------------------------------------------------
    frame_normalisation: str = "deviation"
    """How each frame is scaled at the end: "power", mean |x|^2 = 1; "amplitude", mean |x| = 1 (DeepSig's
    public RadioML 2016 generator divides each frame by the sum of |x|, an L1 norm; mean |x| = 1 is that rule
    at unit scale). Under "amplitude" a frame's power is E|x|^2 / (E|x|)^2: 1 for constant-envelope FM/GMSK,
    about 2 for OOK, 4/pi for complex Gaussian noise. "deviation": unit standard deviation about the frame's
    complex mean, E|x - mean x|^2 = 1 (numpy's x / x.std()), so a frame with a DC part (OOK, ASK, AM with
    carrier) has power 1 + |mean|^2 / variance, about 2 for OOK; zero-mean frames have unit power."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("samples_per_symbol", "qam_apsk_samples_per_symbol"):
            value = getattr(self, name)
            if value is not None and value < 2:
                problems.append(f"{name}={value} (need >= 2)")
        for name in ("rolloff_range", "message_bandwidth_range", "am_carrier_range", "fm_deviation_range",
                     "rician_k_db_range", "ssb_carrier_range", "ssb_residual_carrier_range", "fm_message_bandwidth_range"):
            if getattr(self, name) is None:
                continue
            lo, hi = getattr(self, name)
            if lo > hi:
                problems.append(f"{name}={getattr(self, name)} (low end above high end)")
        lo, hi = self.rolloff_range
        if not 0 < lo <= hi <= 1:
            problems.append(f"rolloff_range={self.rolloff_range} (need 0 < roll-off <= 1)")
        if not 0 <= self.symbol_rate_offset_max < 0.5:
            problems.append(f"symbol_rate_offset_max={self.symbol_rate_offset_max} (need 0 <= x < 0.5)")
        if not self.multipath_delays or self.multipath_delays[0] != 0 or any(
            d < 0 for d in self.multipath_delays
        ) or list(self.multipath_delays) != sorted(set(self.multipath_delays)):
            problems.append(f"multipath_delays={self.multipath_delays} (need increasing, starting at 0)")
        if self.snr_rule not in ("power", "amplitude"):
            problems.append(f"snr_rule={self.snr_rule!r} (need 'power' or 'amplitude')")
        if not 0 < self.snr_bandwidth <= 1:
            problems.append(f"snr_bandwidth={self.snr_bandwidth} (need 0 < x <= 1)")
        if self.frame_normalisation not in ("power", "amplitude", "deviation"):
            problems.append(f"frame_normalisation={self.frame_normalisation!r} (need power, amplitude or deviation)")
        if self.pulse_shape not in ("rrc", "rc"):
            problems.append(f"pulse_shape={self.pulse_shape!r} (need 'rrc' or 'rc')")
        if self.rrc_span_symbols < 1 or self.gmsk_span_symbols < 1:
            problems.append("pulse spans must be at least 1 symbol")
        if problems:
            raise ValueError("invalid SynthConfig: " + "; ".join(problems))

    @property
    def max_delay(self) -> int:
        return max(self.multipath_delays)

    def to_json(self) -> str:
        """Stable text form, stored in the files the generator writes so a file says how it was made."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SynthConfig":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, raw: dict) -> "SynthConfig":
        """The inverse of asdict (JSON lists back to tuples); unknown fields are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown SynthConfig field(s) {unknown}")
        # a file written before a field existed was made as that field's round-2 value says
        raw = {**{k: v for k, v in {**FIELDS_ADDED_IN_ROUND3, **FIELDS_ADDED_IN_ROUND4}.items() if k not in raw}, **raw}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


DEFAULT_CONFIG = SynthConfig()

FIELDS_ADDED_IN_ROUND3 = dict(pulse_shape="rrc", frame_normalisation="power", ssb_carrier_range=None,
                              ssb_residual_carrier_range=(0.0, 0.0), fm_message_bandwidth_range=None)
"""The fields calibration round 3 added, at the values that reproduce the generator before them."""

FIELDS_ADDED_IN_ROUND4 = dict(qam_apsk_samples_per_symbol=None, snr_rule="power")
"""The fields calibration round 4 added, at the values that reproduce the generators before them."""

ROUND3_CONFIG = SynthConfig(**FIELDS_ADDED_IN_ROUND4, samples_per_symbol=8.0, rolloff_range=(0.35, 0.35), pulse_shape="rc",
                            message_bandwidth_range=(0.04, 0.08), snr_bandwidth=0.5, frame_normalisation="deviation")
"""The generator of calibration round 3, spelled out so that it stays fixed when the default moves on
(model.synth.variants' `round3` variant and the base of round 4's one-change variants)."""

ROUND2_CONFIG = SynthConfig(**FIELDS_ADDED_IN_ROUND3, **FIELDS_ADDED_IN_ROUND4, snr_bandwidth=0.5, rolloff_range=(0.1, 0.4), fm_deviation_range=(0.01, 0.04))
"""The generator of calibration round 2 (the default before round 3): transmit-only RRC pulses with roll-off
0.1-0.4, unit-power frames, ideal AM-SSB-SC, AM-SSB-WC with am_carrier_range, FM on the AM message band."""

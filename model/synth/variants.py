"""The generator's named settings, the `--variant` of every calibration probe (research/*_synth.py,
research/psk_separability.py, research/real_frame_stats.py): `default`, the defaults of earlier calibration
rounds (`round3`, `round2`, `round1`), each round's one-change steps (`r3-*`, `r4-*`) and channel changes
tried against a confusion. docs/synthetic-data.md gives each one's figures.

    from model.synth.variants import VARIANTS     # name -> SynthConfig
"""

from __future__ import annotations

import dataclasses

from model.synth.config import DEFAULT_CONFIG, ROUND2_CONFIG, ROUND3_CONFIG

# The generator before calibration round 2: every synthetic figure measured before it was made on this.
ROUND1_CONFIG = dataclasses.replace(ROUND2_CONFIG, cfo_max=1e-4, rician_k_db_range=(0.0, 20.0))

# Calibration round 3 (docs/synthetic-data.md): the steps from round 2 to the default, one change each,
# each measured with the real-trained critics (research/critic_synth.py).
R3_STEPS = {
    "r3-1-rc": dict(pulse_shape="rc"),
    "r3-2-deviation": dict(frame_normalisation="deviation"),
    "r3-3-ssb-carrier": dict(ssb_carrier_range=ROUND3_CONFIG.ssb_carrier_range,
                             ssb_residual_carrier_range=ROUND3_CONFIG.ssb_residual_carrier_range),
    "r3-4-fm": dict(fm_message_bandwidth_range=ROUND3_CONFIG.fm_message_bandwidth_range,
                    fm_deviation_range=ROUND3_CONFIG.fm_deviation_range),
    "r3-5-rolloff": dict(rolloff_range=ROUND3_CONFIG.rolloff_range),
}


# Calibration round 4 (docs/synthetic-data.md): changes to round 3, each motivated by the critics' confusions,
# by the real 16QAM frame or by DeepSig's public generator, each measured with the critics
# (research/critic_synth.py). The kept ones, cumulative (the last is the default):
R4_STEPS = {
    # QAM and APSK at 9 samples per symbol: the real 16QAM frame's autocorrelation and bandwidths
    "r4-qam-apsk-sps9": dict(qam_apsk_samples_per_symbol=9.0),
    # the SNR label sets the noise's standard deviation over the full band (DeepSig's public 2016 generator)
    "r4-snr-amplitude": dict(snr_rule="amplitude", snr_bandwidth=1.0),
}
# Tried alone on round 3 and not kept:
R4_TRIED = {
    # the real frame's autocorrelation and bandwidths match ~9 samples per symbol at roll-off 0.35, not 8
    "r4-sps9": dict(samples_per_symbol=9.0),
    # AM's message as speech-band audio (~1-4 kHz at ~200 kS/s), as DeepSig's public generator took voice audio
    "r4-speech-band": dict(message_bandwidth_range=(0.005, 0.02)),
    # SNR over the whole sampled band (noise variance = signal power / SNR), GNU Radio's channel-model noise
    "r4-snr-fullband": dict(snr_bandwidth=1.0),
    # stronger direct path: Rician K 20-40 dB
    "r4-k20-40": dict(rician_k_db_range=(20.0, 40.0)),
    # no symbol-rate error
    "r4-no-rate-offset": dict(symbol_rate_offset_max=0.0),
}


def _cumulative(base, steps: dict) -> dict:
    out, changes = {}, {}
    for name, change in steps.items():
        changes.update(change)
        out[name] = dataclasses.replace(base, **changes)
    return out


VARIANTS = {
    "default": DEFAULT_CONFIG,
    "round3": ROUND3_CONFIG,
    "round2": ROUND2_CONFIG,
    "round1": ROUND1_CONFIG,
    **_cumulative(ROUND2_CONFIG, R3_STEPS),  # the last step is round 3
    **_cumulative(ROUND3_CONFIG, R4_STEPS),  # the last step is round 4, the default
    **{name: dataclasses.replace(ROUND3_CONFIG, **change) for name, change in R4_TRIED.items()},
    # channel changes tried against a PSK/APSK/QAM-order confusion (on the default's signal model)
    # round 2's carrier offset with round 1's heavy fading (Rician K 0-20 dB)
    "k0-20": dataclasses.replace(DEFAULT_CONFIG, rician_k_db_range=(0.0, 20.0)),
    "nomp": dataclasses.replace(DEFAULT_CONFIG, multipath_delays=(0,)),
    "ideal": dataclasses.replace(DEFAULT_CONFIG, cfo_max=0.0, multipath_delays=(0,), symbol_rate_offset_max=0.0),
    "round2-ideal": dataclasses.replace(ROUND2_CONFIG, cfo_max=0.0, multipath_delays=(0,),
                                        symbol_rate_offset_max=0.0),
    # not a channel change: twice the symbols per frame on round 1's channel, to see whether the PSK orders
    # were short of evidence; the multipath profile is rescaled to the same fraction of a symbol (3/8 -> 1/4)
    "round1-sps4": dataclasses.replace(ROUND1_CONFIG, samples_per_symbol=4.0, multipath_delays=(0, 1),
                                       multipath_decay_db_per_sample=6.0),
}
"""Variant name -> SynthConfig."""

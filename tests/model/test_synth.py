"""The synthetic generator: schema, determinism, power, signal content, SNR definition and argument errors."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest

from model.radioml import CLASSES, FRAME_LEN, N_BLOCKS, N_CLASSES, N_SNRS, SNRS_DB, block_start, validate_file
from model.synth import DEFAULT_CONFIG, SynthConfig, generate_frames, write_synthetic_file
from model.synth.config import ROUND2_CONFIG, ROUND3_CONFIG
from model.synth import writer as writer_module
from model.synth.__main__ import main as cli_main
from model.synth.constellations import constellation
from model.synth.diagnostics import nearest_centroid_accuracy, psk_order_statistics
from model.synth.pulses import SymbolClock, gmsk_phase, rrc, rrc_train
from model.synth.writer import make_block

K = 2  # frames per block of the tiny test files: 1248 frames, about a second to write
# the receiver filter of the PSK-order statistic for the default pulse (a raised cosine needs no matched filter)
RECEIVER = dict(pulse=DEFAULT_CONFIG.pulse_shape, rolloff=float(np.mean(DEFAULT_CONFIG.rolloff_range)))


def rng(*seed: int) -> np.random.Generator:
    return np.random.default_rng(list(seed) or 0)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_synthetic_file(tmp_path_factory.mktemp("synth") / "tiny.h5", K, seed=0, progress=False)


# --- the file ------------------------------------------------------------------------------------------------


def test_tiny_file_has_the_real_schema_and_order(tiny_file):
    info = validate_file(tiny_file)
    assert info.n_frames == N_BLOCKS * K and info.frames_per_block == K
    with h5py.File(tiny_file, "r") as f:
        x, y, z = f["X"], f["Y"], f["Z"]
        assert (x.shape, x.dtype) == ((N_BLOCKS * K, FRAME_LEN, 2), np.float32)
        assert (y.shape, y.dtype) == ((N_BLOCKS * K, N_CLASSES), np.int64)
        assert (z.shape, z.dtype) == ((N_BLOCKS * K, 1), np.int64)
        labels, snrs = y[:], z[:, 0]
        assert f.attrs["synthetic"] and SynthConfig.from_json(f.attrs["config"]) == DEFAULT_CONFIG
    assert np.all(labels.sum(1) == 1) and set(np.unique(labels)) == {0, 1}
    # every frame, not just the first of each block: class-major, then SNR, K frames each
    assert np.array_equal(labels.argmax(1), np.repeat(np.arange(N_CLASSES), N_SNRS * K))
    assert np.array_equal(snrs, np.tile(np.repeat(SNRS_DB, K), N_CLASSES))


def test_blocks_are_seeded_on_their_own(tiny_file):
    """A block is a function of (seed, class, SNR) alone: the file holds exactly what make_block returns."""
    with h5py.File(tiny_file, "r") as f:
        for mod, snr_idx in [(0, 0), (13, 7), (23, 25)]:
            lo = block_start(mod, snr_idx, K)
            assert np.array_equal(f["X"][lo : lo + K], make_block(0, mod, snr_idx, K, DEFAULT_CONFIG))


def test_same_seed_same_bytes_and_different_seed_differs(tmp_path, tiny_file):
    again = write_synthetic_file(tmp_path / "again.h5", K, seed=0, progress=False, workers=2)
    other = write_synthetic_file(tmp_path / "other.h5", K, seed=1, progress=False)
    assert again.read_bytes() == tiny_file.read_bytes()  # parallel generation changes nothing either
    with h5py.File(tiny_file, "r") as a, h5py.File(other, "r") as b:
        xa, xb = a["X"][:], b["X"][:]
        assert np.array_equal(a["Y"][:], b["Y"][:]) and np.array_equal(a["Z"][:], b["Z"][:])
    assert not np.any(np.all(xa == xb, axis=(1, 2))), "some frame is identical under another seed"


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    real = writer_module.make_block
    calls = []

    def failing(*args):
        calls.append(args)
        if len(calls) == 30:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(writer_module, "make_block", failing)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic_file(tmp_path / "cut.h5", 1, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs", [dict(frames_per_block=0), dict(frames_per_block=2.5),
                                    dict(frames_per_block=2, seed=-1), dict(frames_per_block=2, workers=0)])
def test_writer_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        write_synthetic_file(tmp_path / "x.h5", progress=False, **kwargs)
    assert not (tmp_path / "x.h5").exists()


# --- the frames ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("snr", [-20, 0, 30])
def test_every_frame_has_unit_deviation_and_zero_mean_classes_unit_power(snr):
    """The default scales each frame to unit standard deviation about its complex mean (x / x.std()), so
    classes without a DC part have unit power and OOK/ASK/AM with carrier more; round 2 scaled to unit power."""
    for mod in range(N_CLASSES):
        x = generate_frames(mod, snr, 8, rng(mod))
        assert x.shape == (8, FRAME_LEN, 2) and x.dtype == np.float32
        assert np.all(np.isfinite(x))
        z = x[..., 0].astype(np.float64) + 1j * x[..., 1]
        assert np.allclose(np.mean(np.abs(z - z.mean(1, keepdims=True)) ** 2, axis=1), 1.0, atol=1e-5)
        power = np.mean(np.abs(z) ** 2, axis=1)
        if CLASSES[mod] in ("BPSK", "QPSK", "16QAM", "256QAM", "OQPSK") or snr == -20:  # (slow FM: a mean)
            # power = 1 + |frame mean|^2: the mean of ~120 random symbols, E|mean|^2 ~ sps/1024 ~ 0.009
            assert np.allclose(power, 1.0, atol=0.08 if snr > -20 else 0.02), CLASSES[mod]
        x2 = generate_frames(mod, snr, 4, rng(mod), ROUND2_CONFIG).astype(np.float64)
        assert np.allclose((x2**2).sum(-1).mean(1), 1.0, atol=1e-5)
    ook = generate_frames("OOK", 30, 8, rng(0)).astype(np.float64)
    assert np.all((ook**2).sum(-1).mean(1) > 1.5)  # on-off keying carries a DC part: about 2


def test_same_generator_state_same_frames():
    assert np.array_equal(generate_frames("64QAM", 4, 5, rng(3)), generate_frames("64QAM", 4, 5, rng(3)))
    assert not np.array_equal(generate_frames("64QAM", 4, 5, rng(3)), generate_frames("64QAM", 4, 5, rng(4)))


def _envelope_spread(x: np.ndarray) -> np.ndarray:
    env = np.hypot(x[..., 0], x[..., 1])
    return env.std(1) / env.mean(1)


def test_high_snr_envelopes_tell_classes_apart():
    """At +30 dB: FM and GMSK keep a constant envelope, pulse-shaped PSK and QAM do not, OOK switches off.

    Medians, because a deep frequency-selective fade can ripple even a constant-envelope signal."""
    spread = {c: np.median(_envelope_spread(generate_frames(c, 30, 16, rng(i)))) for i, c in enumerate(CLASSES)}
    for c in ("FM", "GMSK"):
        assert spread[c] < 0.08, c
    for c in ("BPSK", "QPSK", "8PSK", "16QAM", "64QAM", "16APSK", "OQPSK"):
        assert spread[c] > 0.2, c
    ook = generate_frames("OOK", 30, 16, rng(0))
    gmsk = generate_frames("GMSK", 30, 16, rng(0))
    low = lambda x: np.mean(np.hypot(x[..., 0], x[..., 1]) < 0.35)  # noqa: E731  share of "off" samples
    assert low(ook) > 0.2 and low(gmsk) < 0.01


def test_psk_orders_stay_apart_at_high_snr_on_the_default_channel():
    """The generator keeps phase sharp enough for 8/16/32PSK to differ at +30 dB: the M-th power of the
    matched-filtered phase collapses to one point at M = the order and not below (a CNN that confuses
    them lacks data, not information). Medians over 16 frames: deep fades scatter a few."""
    stats = {c: np.median(psk_order_statistics(generate_frames(c, 30, 16, rng(i)), **RECEIVER), axis=0)
             for i, c in enumerate(("8PSK", "16PSK", "32PSK"))}  # columns: M = 8, 16, 32
    assert stats["8PSK"][0] > 0.75
    assert stats["16PSK"][0] < 0.55 < 0.6 < stats["16PSK"][1]
    assert stats["32PSK"][1] < 0.55
    with pytest.raises(ValueError, match="I/Q"):
        psk_order_statistics(np.zeros((2, 1024)))


def test_the_default_fading_leaves_the_psk_orders_resolvable_and_round_1s_did_not():
    """Calibration round 2's reason, kept: with Rician K 0-20 dB (round 1) deep fades leave about a quarter
    of 16PSK frames unresolvable by the classical statistic at +20 dB; with today's K 10-30 dB almost none."""
    def separability(config):
        frames = [generate_frames(c, 20, 120, rng(7, i), config) for i, c in enumerate(("8PSK", "16PSK", "32PSK"))]
        labels = np.repeat(np.arange(3), 120)
        return nearest_centroid_accuracy(psk_order_statistics(np.concatenate(frames), **RECEIVER), labels)

    assert separability(DEFAULT_CONFIG).min() > 0.9
    assert separability(dataclasses.replace(DEFAULT_CONFIG, rician_k_db_range=(0.0, 20.0)))[1] < 0.85


def test_real_valued_classes_lie_on_a_line_on_a_clean_channel():
    """BPSK and AM-DSB-SC carry no quadrature component: |E x^2| / E |x|^2 is near 1; QPSK and QAM near 0
    (AM-SSB-SC without the residual carrier the default gives it)."""
    clean = dataclasses.replace(DEFAULT_CONFIG, cfo_max=0.0, multipath_delays=(0,), ssb_residual_carrier_range=(0.0, 0.0))

    def circularity(c):
        x = generate_frames(c, 30, 16, rng(1), clean).astype(np.float64)
        z = x[..., 0] + 1j * x[..., 1]
        return np.abs(np.mean(z * z, axis=1)) / np.mean(np.abs(z) ** 2, axis=1)

    for c in ("BPSK", "AM-DSB-SC", "4ASK"):
        assert circularity(c).min() > 0.9, c
    for c in ("QPSK", "16QAM", "GMSK", "AM-SSB-SC"):
        assert circularity(c).max() < 0.3, c


def _out_of_band_share(x: np.ndarray, edge: float = 0.3) -> float:
    """Share of the average power at |f| > edge cycles/sample, where only noise lives at 8 samples/symbol."""
    z = x[..., 0].astype(np.float64) + 1j * x[..., 1]
    spectrum = np.mean(np.abs(np.fft.fft(z, axis=1)) ** 2, axis=0)
    return float(spectrum[np.abs(np.fft.fftfreq(FRAME_LEN)) > edge].sum() / spectrum.sum())


@pytest.mark.parametrize("snr", [-20, 0, 30])
@pytest.mark.parametrize("rule, bandwidth", [("power", 0.5), ("power", 1.0), ("amplitude", 1.0)])
def test_snr_is_signal_over_white_noise_in_the_configured_bandwidth(snr, rule, bandwidth):
    """Noise is white and SNR = signal power / noise power in `snr_bandwidth` of the band, so the noise-only
    band |f| > 0.3 holds 0.4 * N / (S + N) of the power, with N = S / (SNR * snr_bandwidth); under the
    "amplitude" rule (DeepSig's public generator, the default) the label is half the true SNR in dB."""
    config = dataclasses.replace(DEFAULT_CONFIG, snr_rule=rule, snr_bandwidth=bandwidth)
    true_snr_db = snr * (2 if rule == "amplitude" else 1)
    noise_share = 1 / (1 + 10 ** (true_snr_db / 10) * bandwidth)
    for c in ("QPSK", "256QAM", "AM-DSB-SC", "FM", "GMSK"):
        share = _out_of_band_share(generate_frames(c, snr, 32, rng(7), config))
        assert share == pytest.approx(0.4 * noise_share, abs=0.01 + 0.05 * noise_share), (c, snr)


def test_low_snr_frames_are_noise():
    """At -20 dB every class looks like complex Gaussian noise: E|x|^4 / (E|x|^2)^2 is 2, the envelope Rayleigh."""
    rayleigh_spread = np.sqrt(4 / np.pi - 1)
    for c in ("OOK", "FM", "GMSK", "256QAM", "AM-DSB-WC"):
        x = generate_frames(c, -20, 32, rng(2)).astype(np.float64)
        p = (x**2).sum(-1)
        assert np.mean(p**2) / np.mean(p) ** 2 == pytest.approx(2.0, abs=0.08), c
        assert np.mean(_envelope_spread(x)) == pytest.approx(rayleigh_spread, abs=0.03), c


def test_constellations():
    sizes = {"OOK": 2, "4ASK": 4, "8ASK": 8, "BPSK": 2, "QPSK": 4, "8PSK": 8, "16PSK": 16, "32PSK": 32,
             "16APSK": 16, "32APSK": 32, "64APSK": 64, "128APSK": 128,
             "16QAM": 16, "32QAM": 32, "64QAM": 64, "128QAM": 128, "256QAM": 256}
    for name, m in sizes.items():
        points = constellation(name)
        assert len(np.unique(np.round(points, 9))) == m, name
        assert np.mean(np.abs(points) ** 2) == pytest.approx(1.0), name
    for name, corner_level in (("32QAM", 5), ("128QAM", 11)):  # cross shapes: the corners are empty
        points = constellation(name)
        unit = np.min(np.abs(points.real))  # the grid's half spacing
        assert np.max(np.abs(points.real)) == pytest.approx(corner_level * unit)
        assert not np.any(np.isclose(np.abs(points.real), corner_level * unit)
                          & np.isclose(np.abs(points.imag), corner_level * unit)), name
    assert len(np.unique(np.round(np.abs(constellation("32APSK")), 9))) == 3  # three rings


def test_rrc_pulse_is_root_nyquist_and_the_tabulated_train_matches_the_formula():
    step = 1 / 64
    u = np.arange(-40, 40 + step / 2, step)
    for beta in (0.1, 0.25, 0.4):
        pulse = rrc(u, np.float64(beta))
        full = np.convolve(pulse, pulse) * step  # transmit pulse through its matched filter: raised cosine
        centre = len(full) // 2
        at_symbols = full[centre + np.arange(-5, 6) * 64] / full[centre]
        assert np.allclose(np.delete(at_symbols, 5), 0, atol=3e-3), beta  # no inter-symbol interference
    one = np.zeros((1, 40))
    one[0, 20] = 1.0
    clock = SymbolClock.make(np.array([7.9]), np.array([3.3]), 200, 6)
    train = rrc_train(one, clock, np.array([0.3]), 6)
    t = (np.arange(200) - 3.3) / 7.9 - (20 - clock.offset)
    inside = np.abs(t) < 6
    assert np.allclose(train[0, inside], rrc(t[inside], 0.3), atol=5e-4)


def test_gmsk_phase_advances_a_quarter_turn_per_symbol():
    bits = np.ones((1, 200))
    clock = SymbolClock.make(np.array([8.0]), np.array([2.5]), 1024, 3)
    step = np.diff(gmsk_phase(bits, clock, 0.3, 3)[0])
    assert np.allclose(step, np.pi / 2 / 8)  # constant frequency of a quarter cycle per symbol
    bits[0, ::2] = -1  # alternating bits: the phase wobbles by less than pi/2 around a constant
    phase = gmsk_phase(bits, clock, 0.3, 3)[0]
    assert np.ptp(phase) < np.pi / 2


# --- argument errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mod", ["QAM17", "", "bpsk2", 24, -1])
def test_generate_frames_rejects_unknown_classes(mod):
    with pytest.raises(ValueError, match="modulation"):
        generate_frames(mod, 0, 1, rng())


@pytest.mark.parametrize("mod", [1.0, True, None, [3]])
def test_generate_frames_rejects_non_class_types(mod):
    with pytest.raises(TypeError, match="modulation"):
        generate_frames(mod, 0, 1, rng())


def test_generate_frames_accepts_names_in_any_case_and_checks_its_other_arguments():
    assert np.array_equal(generate_frames("am-ssb-wc", 0, 2, rng(1)), generate_frames(17, 0, 2, rng(1)))
    assert generate_frames("BPSK", 0, 0, rng()).shape == (0, FRAME_LEN, 2)
    with pytest.raises(ValueError, match="n must be"):
        generate_frames("BPSK", 0, -1, rng())
    with pytest.raises(ValueError, match="n must be"):
        generate_frames("BPSK", 0, 2.0, rng())
    with pytest.raises(TypeError, match="Generator"):
        generate_frames("BPSK", 0, 2, 42)
    with pytest.raises(ValueError, match="finite"):
        generate_frames("BPSK", float("nan"), 2, rng())


def test_config_rejects_nonsense_and_round_trips():
    with pytest.raises(ValueError, match="rolloff_range"):
        SynthConfig(rolloff_range=(0.4, 0.1))
    with pytest.raises(ValueError, match="multipath_delays"):
        SynthConfig(multipath_delays=(1, 2))
    with pytest.raises(ValueError, match="snr_bandwidth"):
        SynthConfig(snr_bandwidth=0)
    with pytest.raises(ValueError, match="snr_rule"):
        SynthConfig(snr_rule="voltage")
    with pytest.raises(ValueError, match="qam_apsk_samples_per_symbol"):
        SynthConfig(qam_apsk_samples_per_symbol=1.0)
    assert SynthConfig.from_json(DEFAULT_CONFIG.to_json()) == DEFAULT_CONFIG
    # a file written before round 4 lacks its fields: one symbol rate for all classes, noise power from the label
    older = {k: v for k, v in dataclasses.asdict(ROUND3_CONFIG).items()
             if k not in ("qam_apsk_samples_per_symbol", "snr_rule")}
    assert SynthConfig.from_dict(older) == ROUND3_CONFIG


def _bandwidth_90(frames: np.ndarray) -> float:
    """Mean one-sided bandwidth (cycles/sample) holding 90 % of each frame's power."""
    x = frames[..., 0] + 1j * frames[..., 1]
    power = np.abs(np.fft.fft(x, axis=1)) ** 2
    order = np.argsort(np.abs(np.fft.fftfreq(FRAME_LEN)))
    cumulative = np.cumsum(power[:, order], axis=1) / power.sum(1, keepdims=True)
    return float(np.mean(np.abs(np.fft.fftfreq(FRAME_LEN))[order][np.argmax(cumulative >= 0.9, axis=1)]))


def test_qam_and_apsk_have_their_own_symbol_rate():
    """Round 4: QAM/APSK at qam_apsk_samples_per_symbol (9), a band 8/9 as wide as the PSKs' (8 sps);
    round 3 drew every linear class at one rate."""
    clean = dataclasses.replace(DEFAULT_CONFIG, multipath_delays=(0,), cfo_max=0.0)
    ratio = {}
    for name, cfg in (("round4", clean), ("round3", dataclasses.replace(clean, qam_apsk_samples_per_symbol=None))):
        qam = _bandwidth_90(generate_frames("16QAM", 30, 32, rng(1), cfg))
        psk = _bandwidth_90(generate_frames("QPSK", 30, 32, rng(2), cfg))
        ratio[name] = qam / psk
    assert ratio["round3"] == pytest.approx(1.0, abs=0.04)
    assert ratio["round4"] == pytest.approx(8 / 9, abs=0.04)


# --- command line --------------------------------------------------------------------------------------------


def test_cli_writes_a_valid_file_and_a_preview(tmp_path, capsys):
    out = tmp_path / "data" / "s.h5"
    png = tmp_path / "classes.png"
    assert cli_main(["--out", str(out), "--frames-per-block", "1", "--no-progress", "--preview", str(png)]) == 0
    assert validate_file(out).frames_per_block == 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    ([], "nothing to do"),
    (["--out", "{tmp}/x.h5", "--frames-per-block", "0"], "at least 1"),
    (["--out", "{tmp}/x.h5", "--frames-per-block", "many"], "not an integer"),
    (["--out", "{tmp}/x.h5", "--seed", "-3"], "non-negative"),
    (["--out", "{tmp}/exists.h5"], "--overwrite"),
    (["--out", "{tmp}"], "directory"),
    (["--preview", "{tmp}/p.jpg"], ".png"),
])
def test_cli_rejects_bad_arguments_clearly(tmp_path, capsys, argv, message):
    (tmp_path / "exists.h5").write_bytes(b"")
    assert cli_main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert message in capsys.readouterr().err

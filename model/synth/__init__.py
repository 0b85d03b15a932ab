"""Synthetic RadioML-2018-like data: the toolchain's default data when the real 20 GB file is absent.

    generate_frames(mod, snr_db, n, rng)          -> float32 (n, 1024, 2) unit-power I/Q frames
    write_synthetic_file(path, frames_per_block)  -> an HDF5 file with the real file's schema
    python -m model.synth --out data/synthetic.h5 --frames-per-block 64 [--preview classes.png]

Modules, one job each: config (every knob, SynthConfig), constellations (symbol alphabets), pulses (RRC and
GMSK pulse trains at arbitrary sample times), sources (clean baseband per class), channel (fading, carrier
offset, noise, scaling), frames (generate_frames), writer (the HDF5 file), preview (a PNG of the classes),
diagnostics (classical statistics that check what the frames carry), critic (networks trained on the real file
score a file's frames: `python -m model.synth.critic MODEL FILE`), variants (the generator's named settings the
calibration compared), proxy (the calibration's small float CNN).

Accuracy on these frames is not accuracy on RadioML 2018.01A: the generator is calibrated so that a proxy
classifier's accuracy-vs-SNR curve has the real one's shape (research/calibrate_synth.py) and so that networks
trained on the real file recognise its frames (research/critic_synth.py, docs/synthetic-data.md).
"""

from model.synth.config import DEFAULT_CONFIG, SynthConfig
from model.synth.frames import class_index, generate_frames
from model.synth.writer import write_synthetic_file

__all__ = ["DEFAULT_CONFIG", "SynthConfig", "class_index", "generate_frames", "write_synthetic_file"]

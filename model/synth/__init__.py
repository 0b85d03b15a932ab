"""Synthetic RadioML-2018-like data: the toolchain's default data when the real 20 GB file is absent.

    generate_frames(mod, snr_db, n, rng)          -> float32 (n, 1024, 2) unit-power I/Q frames
    write_synthetic_file(path, frames_per_block)  -> an HDF5 file with the real file's schema
    python -m model.synth --out data/synthetic.h5 --frames-per-block 64 [--preview classes.png]

Accuracy on these frames is not accuracy on RadioML 2018.01A: the generator is calibrated only so that a
classifier's accuracy-vs-SNR curve has the real one's shape (scripts/calibrate_synth.py).
"""

from model.synth.config import DEFAULT_CONFIG, SynthConfig
from model.synth.frames import class_index, generate_frames

__all__ = ["DEFAULT_CONFIG", "SynthConfig", "class_index", "generate_frames", "write_synthetic_file"]


def __getattr__(name):  # the writer pulls in h5py and tqdm; import it only when asked for
    if name == "write_synthetic_file":
        from model.synth.writer import write_synthetic_file

        return write_synthetic_file
    raise AttributeError(name)

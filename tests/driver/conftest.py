"""Fixtures of the driver tests: real compile builds, made by the compile environment in a subprocess.

The driver never imports finn-plus (it needs numpy 2 and torch); these fixtures run `python -m
compile.build` and a QONNX reference script with the compile environment's Python ($AMC_COMPILE_PYTHON,
default .venv/bin/python), as the emulation backend itself does.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "compile"
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/loopback.py: the servers both suites start

N_CLASSES, N_SNRS = 24, 26
SNRS_DB = tuple(range(-20, 31, 2))


def compile_python() -> str:
    p = os.environ.get("AMC_COMPILE_PYTHON") or str(ROOT / ".venv" / "bin" / "python")
    if not Path(p).exists():
        pytest.fail(f"the compile environment's Python {p} is missing: `make setup` creates .venv "
                    "(or set AMC_COMPILE_PYTHON); the driver tests need real builds from it")
    return p


def run_compile_env(args: list, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([compile_python(), *args], cwd=str(ROOT), env=env, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def write_toy_h5(path: Path, frames_per_block: int, seed: int = 0, frame_len: int = 1024) -> Path:
    """A small file in the RadioML 2018 schema: noisy tones, ordered by class then SNR."""
    import h5py

    rng = np.random.default_rng(seed)
    n = N_CLASSES * N_SNRS * frames_per_block
    t = np.arange(frame_len)
    with h5py.File(path, "w") as f:
        X = f.create_dataset("X", (n, frame_len, 2), dtype=np.float32)
        Y = f.create_dataset("Y", (n, N_CLASSES), dtype=np.int64)
        Z = f.create_dataset("Z", (n, 1), dtype=np.int64)
        i = 0
        for c in range(N_CLASSES):
            for snr in SNRS_DB:
                z = np.exp(1j * (2 * np.pi * (c + 1) / 64 * t + rng.uniform(0, 6.3, (frames_per_block, 1))))
                z = z + np.sqrt(10 ** (-snr / 10) / 2) * (rng.standard_normal(z.shape) + 1j * rng.standard_normal(z.shape))
                z /= np.sqrt((np.abs(z) ** 2).mean(axis=1, keepdims=True))
                X[i: i + frames_per_block] = np.stack([z.real, z.imag], -1).astype(np.float32)
                Y[i: i + frames_per_block] = np.eye(N_CLASSES, dtype=np.int64)[c]
                Z[i: i + frames_per_block] = snr
                i += frames_per_block
    return path


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> Path:
    """tests/fixtures/compile/tiny_vgg compiled for the ZCU104 (estimates, sources, verification)."""
    out = tmp_path_factory.mktemp("builds") / "tiny_vgg-zcu104"
    run_compile_env(["-m", "compile.build", "compile", str(FIXTURES / "tiny_vgg"), "--board", "zcu104",
                     "--out", str(out), "--verify-frames", "4"])
    return out


@pytest.fixture(scope="session")
def toy_h5(tmp_path_factory) -> Path:
    return write_toy_h5(tmp_path_factory.mktemp("data") / "toy.h5", frames_per_block=2)


@pytest.fixture(scope="session")
def fixture_run(tmp_path_factory, toy_h5) -> Path:
    """A run folder for the tiny_vgg fixture: model.onnx, io.json, data.json, cost.json and a software
    reference predictions.npz (the QONNX model's own outputs on the float frames of a test subset,
    computed by qonnx in the compile environment, independently of the compile steps)."""
    from driver.frontend import FrameSet

    run = tmp_path_factory.mktemp("runs") / "tiny_vgg"
    run.mkdir()
    for f in ("model.onnx", "io.json"):
        shutil.copy2(FIXTURES / "tiny_vgg" / f, run / f)
    (run / "data.json").write_text(json.dumps({"kind": "toy", "path": str(toy_h5)}))
    fs = FrameSet.official_test_split(toy_h5).subset(per_block=1, snrs=[30, 0])
    np.savez(run / "subset.npz", index=fs.index, label=fs.label, snr_db=fs.snr_db)
    run_compile_env([str(HERE / "qonnx_reference.py"), str(run / "model.onnx"), str(toy_h5), str(run / "subset.npz"),
                     str(run / "predictions.npz")])
    r = run_compile_env(["-m", "model.cost", str(run / "model.onnx"), "--json"])
    (run / "cost.json").write_text(r.stdout)
    return run


@pytest.fixture(scope="session")
def emulator(tiny_build):
    """One emulated overlay (one worker process) shared by the tests that only execute."""
    from driver.emulation import EmulatedOverlay

    ov = EmulatedOverlay(tiny_build, batch_size=1, compile_python=compile_python(), timeout_s=120)
    yield ov
    ov.close()


def official_split_size(frames_per_block: int) -> int:
    return N_CLASSES * N_SNRS * math.ceil(0.1 * frames_per_block)

"""The compile tests' helpers: the tiny fixture models (tests/fixtures/compile/*, written by
scripts/make_compile_fixtures.py; no torch here) built in process, and copies of a finished build for tests
that change one. The builds every test shares are session fixtures in tests/conftest.py."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from amc_cli.paths import REPO_ROOT

ROOT = REPO_ROOT
FIXTURES = ROOT / "tests" / "fixtures" / "compile"
VERIFY_FRAMES = 4


def build(tmp_root: Path, name: str, **kw):
    """The fixture `name` compiled for the ZCU104 into tmp_root: (config, result)."""
    from compile.config import make_config
    from compile.runner import run_build

    cfg = make_config(FIXTURES / name, board="zcu104", out_dir=tmp_root / f"{name}-zcu104",
                      verify_frames=VERIFY_FRAMES, **kw)
    result = run_build(cfg, log=lambda m: None)
    return cfg, result


def copy_build(cfg, dest: Path, **changes):
    """A copy of a finished build folder, with a config pointing at it (for restarts)."""
    out = dest / cfg.out_dir.name
    shutil.copytree(cfg.out_dir, out)
    # the parent graph points its partition at absolute paths inside the old folder: harmless, the
    # verifier substitutes the child it checks; nothing else reads it during a restart
    return replace(cfg, out_dir=out, **changes)


def step_graph(built, step: str):
    """The graph a shared build wrote after `step` (its artefact)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from compile.runner import artefact_path

    cfg, _ = built
    return ModelWrapper(str(artefact_path(cfg, step)))


def run_graph(model, x):
    """The graph's one output on its one input, executed by qonnx."""
    from qonnx.core.onnx_exec import execute_onnx

    return execute_onnx(model, {model.graph.input[0].name: x})[model.graph.output[0].name]

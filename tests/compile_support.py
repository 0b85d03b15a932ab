"""Shared fixtures of the compile/ tests: the tiny fixture models built once per session.

Builds run in-process on tests/fixtures/compile/* (files written by scripts/make_compile_fixtures.py;
no torch here). Tests that change a build work on a copy of the build folder.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "compile"
VERIFY_FRAMES = 4


def build(tmp_root: Path, name: str, **kw):
    from compile.config import make_config
    from compile.runner import run_build

    cfg = make_config(FIXTURES / name, board="zcu104", out_dir=tmp_root / f"{name}-zcu104",
                      verify_frames=VERIFY_FRAMES, **kw)
    result = run_build(cfg, log=lambda m: None)
    return cfg, result


# Each test module imports the fixtures below, which makes each its own fixture definition to
# pytest; this cache (this module is imported once) makes the builds happen once per session anyway.
_BUILDS: dict = {}


def _cached(tmp_path_factory, name: str):
    if name not in _BUILDS:
        _BUILDS[name] = build(tmp_path_factory.mktemp("builds"), name)
    return _BUILDS[name]


@pytest.fixture(scope="session")
def tiny_vgg_build(tmp_path_factory):
    return _cached(tmp_path_factory, "tiny_vgg")


@pytest.fixture(scope="session")
def tiny_dsres_build(tmp_path_factory):
    return _cached(tmp_path_factory, "tiny_dsres")


@pytest.fixture(scope="session")
def tiny_bacalhau_build(tmp_path_factory):
    return _cached(tmp_path_factory, "tiny_bacalhau")


@pytest.fixture(scope="session")
def tiny_bacalhau_rq_build(tmp_path_factory):
    return _cached(tmp_path_factory, "tiny_bacalhau_rq")


def copy_build(cfg, dest: Path, **changes):
    """A copy of a finished build folder, with a config pointing at it (for restarts)."""
    from dataclasses import replace

    out = dest / cfg.out_dir.name
    shutil.copytree(cfg.out_dir, out)
    new = replace(cfg, out_dir=out, **changes)
    # the parent graph points its partition at absolute paths inside the old folder: harmless, the
    # verifier substitutes the child it checks; nothing else reads it during a restart
    return new

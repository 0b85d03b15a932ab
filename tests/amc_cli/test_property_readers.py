"""Property-based tests (Hypothesis): damaged HDF5, .npy, ONNX and YAML files fed to the readers. Each
reader either gives a correct result or refuses in one line (a RefusedInput, which the command layer prints
as one line with status 2); no other exception, so never a traceback."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from amc_cli import RefusedInput
from amc_cli.paths import REPO_ROOT

ROOT = REPO_ROOT
TINY_ONNX = ROOT / "tests" / "fixtures" / "compile" / "tiny_vgg" / "model.onnx"
DEMO_RECIPE = ROOT / "model" / "recipes" / "demo.yaml"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: a damage: truncate at a fraction of the file, or overwrite bytes at an offset (biased to the start,
#: where the headers and the structure sit)
damages = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 0.999)),
    st.tuples(st.just("flip"), st.integers(0, 4095), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("flip-anywhere"), st.floats(0.0, 0.999), st.binary(min_size=1, max_size=64)),
)


def damaged_copy(src: Path, dst: Path, damage) -> Path:
    data = bytearray(src.read_bytes())
    if damage[0] == "truncate":
        data = data[: int(len(data) * damage[1])]
    else:
        at = damage[1] if damage[0] == "flip" else int(len(data) * damage[1])
        at = min(at, len(data) - 1)
        data[at: at + len(damage[2])] = damage[2]
    dst.write_bytes(bytes(data))
    return dst


def refused_or_ok(fn, *args):
    """Run a reader; a RefusedInput is a refusal (its message one line), any other exception fails."""
    try:
        return fn(*args)
    except RefusedInput as exc:
        assert str(exc) and "\n" not in str(exc).strip(), repr(str(exc))
        return None


# ---- HDF5 -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_file(tmp_path_factory):
    from conftest import write_toy_radioml

    return write_toy_radioml(tmp_path_factory.mktemp("h5") / "toy.h5", 1)


@SETTINGS
@given(damage=damages)
def test_a_damaged_hdf5_file_is_read_correctly_or_refused(toy_file, tmp_path, damage):
    from driver.frontend import check_data_file
    from model.cache import open_cache
    from model.radioml import validate_file

    bad = damaged_copy(toy_file, tmp_path / "bad.h5", damage)
    refused_or_ok(validate_file, bad)
    refused_or_ok(check_data_file, bad)
    cache = refused_or_ok(open_cache, bad, tmp_path / "cache", "int8", False)
    if cache is not None:  # built: every row as the file holds it
        assert len(cache) == 624 and np.isfinite(np.asarray(cache.x[:8], dtype=np.float32)).all()
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)


# ---- .npy -----------------------------------------------------------------------------------------
@SETTINGS
@given(damage=damages, shape=st.sampled_from([(4, 2, 1024), (3, 1024, 2), (2, 2, 16), (5,)]),
       dtype=st.sampled_from(["float32", "int8", "float64", "int16"]))
def test_a_damaged_npy_array_is_read_correctly_or_refused(tmp_path, damage, shape, dtype):
    from amc_cli.inputs import load_npy
    from compile.requantize import read_frames

    good = tmp_path / "good.npy"
    np.save(good, np.ones(shape, dtype=dtype))
    bad = damaged_copy(good, tmp_path / "bad.npy", damage)
    x = refused_or_ok(load_npy, bad, "frames")
    if x is not None:
        np.asarray(x).sum()  # a mapped array that reads: the file holds what its header says
    refused_or_ok(read_frames, bad, 2)


# ---- ONNX -----------------------------------------------------------------------------------------
@SETTINGS
@given(damage=damages)
def test_a_damaged_onnx_model_is_read_correctly_or_refused(tmp_path, capsys, damage):
    from compile.config import check_model_file
    from model.cost import main as cost_main

    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    bad = damaged_copy(TINY_ONNX, folder / "model.onnx", damage)
    refused_or_ok(check_model_file, bad)
    code = cost_main([str(bad)])  # the command: a costed graph, or one line (qonnx's own failures included)
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err and len(err.strip().splitlines()) <= 1, err


# ---- YAML -----------------------------------------------------------------------------------------
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def _recipe_keys() -> list[tuple[str, str]]:
    data = yaml.safe_load(DEMO_RECIPE.read_text())
    return [(s, k) for s, sec in data.items() if isinstance(sec, dict) for k in sec]


@SETTINGS
@given(key=st.sampled_from(_recipe_keys()), value=yaml_values)
def test_any_value_at_any_recipe_key_is_taken_or_refused(tmp_path, key, value):
    from model.config import load_recipe

    data = yaml.safe_load(DEMO_RECIPE.read_text())
    data[key[0]][key[1]] = value
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    refused_or_ok(load_recipe, path)


@SETTINGS
@given(edit=st.tuples(st.floats(0, 0.999), st.integers(0, 40), st.text(max_size=12)))
def test_a_mangled_recipe_text_is_taken_or_refused(tmp_path, edit):
    from model.config import load_recipe

    text = DEMO_RECIPE.read_text()
    at = int(len(text) * edit[0])
    path = tmp_path / "r.yaml"
    path.write_text(text[:at] + edit[2] + text[at + edit[1]:], encoding="utf-8", errors="surrogatepass")
    assume(path.stat().st_size > 0)
    refused_or_ok(load_recipe, path)


@SETTINGS
@given(document=yaml_values)
def test_any_yaml_document_as_a_recipe_is_taken_or_refused(tmp_path, document):
    from model.config import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(document))
    refused_or_ok(load_recipe, path)

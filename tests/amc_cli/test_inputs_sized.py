"""Inputs checked before they are read (amc_cli.inputs) and the commands that use those checks: one line,
status 2, nothing written, for every case of the kinds the hostile-input round found."""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
from compile_support import FIXTURES, copy_build
from conftest import write_toy_radioml

from amc_cli import RefusedInput
from amc_cli.inputs import check_count, checked_file, frames_shape_problem, human_bytes, load_npy, load_onnx, max_threads
from amc_cli.paths import REPO_ROOT

ROOT = REPO_ROOT
TINY = FIXTURES / "tiny_vgg" / "model.onnx"


def _cli(args, tmp_path):
    """Run `-m module ...` as its entry point would, in this process (a subprocess would import torch again
    for every case); (status, its one error line, stderr)."""
    assert args[0] == "-m"
    err, before = io.StringIO(), os.environ.get("AMC_LOG_DIR")
    os.environ["AMC_LOG_DIR"] = str(tmp_path / "logs")
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = importlib.import_module(args[1]).main(args[2:])
    finally:
        if before is None:
            del os.environ["AMC_LOG_DIR"]
        else:
            os.environ["AMC_LOG_DIR"] = before
    text = err.getvalue()
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.startswith("error:")]
    return code, (lines[0] if len(lines) == 1 else text), text


# ---- sizes -------------------------------------------------------------------------------------
def test_a_huge_sparse_model_file_is_refused_from_its_size(tmp_path):
    big = tmp_path / "big.onnx"
    with open(big, "wb") as f:  # 8 GiB, sparse: nothing to read, but a reader that tried would take 8 GiB
        f.truncate(8 << 30)
    with pytest.raises(RefusedInput, match=r"8\.0 GiB, larger than an ONNX model can be \(2\.0 GiB\)"):
        load_onnx(big)
    for args in (["-m", "model.cost", str(big)],
                 ["-m", "compile.build", "compile", str(big), "--out", str(tmp_path / "b")]):
        code, line, _ = _cli(args, tmp_path)
        assert code == 2 and "larger than" in line
    assert not (tmp_path / "b").exists()


def test_checked_file_names_what_is_wrong(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(RefusedInput, match="no such file"):
        checked_file(tmp_path / "none.pt", "a checkpoint", 10)
    with pytest.raises(RefusedInput, match="a folder, not a checkpoint"):
        checked_file(tmp_path, "a checkpoint", 10)
    with pytest.raises(RefusedInput, match="the file is empty"):
        checked_file(tmp_path / "empty.pt", "a checkpoint", 10)
    (tmp_path / "big.pt").write_bytes(b"x" * 2048)
    with pytest.raises(RefusedInput, match=r"2.0 KiB, larger than a checkpoint can be \(10 bytes\)"):
        checked_file(tmp_path / "big.pt", "a checkpoint", 10)
    assert checked_file(tmp_path / "big.pt", "an HDF5 file") == tmp_path / "big.pt"  # no bound given: none


def test_sizes_read_in_binary_units_up_to_tebibytes():
    assert [human_bytes(n) for n in (5, 2048, 3 << 30, 5 << 40)] == ["5 bytes", "2.0 KiB", "3.0 GiB", "5.0 TiB"]


# ---- ONNX external data --------------------------------------------------------------------------
def _with_external_data(tmp_path: Path, location: str) -> Path:
    """The tiny model with its weights in an external file, then pointed at `location`."""
    folder = tmp_path / "m"
    folder.mkdir()
    m = onnx.load(str(TINY))
    onnx.save_model(m, str(folder / "model.onnx"), save_as_external_data=True, location="weights.bin",
                    size_threshold=0)
    m = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = location
    onnx.save_model(m, str(folder / "model.onnx"))
    return folder / "model.onnx"


def test_external_data_beside_the_model_loads(tmp_path):
    model = load_onnx(_with_external_data(tmp_path, "weights.bin"))
    ref = onnx.load(str(TINY))
    assert [t.raw_data for t in model.graph.initializer] == [t.raw_data for t in ref.graph.initializer]


@pytest.mark.parametrize("location", ["/etc/passwd", "../outside.bin", "sub/../../outside.bin"])
def test_external_data_outside_the_models_folder_is_refused(tmp_path, location):
    (tmp_path / "outside.bin").write_bytes(b"\0" * 4096)
    path = _with_external_data(tmp_path, location)
    with pytest.raises(RefusedInput, match="outside the model's folder"):
        load_onnx(path)
    for args in (["-m", "model.cost", str(path)],
                 ["-m", "compile.build", "compile", str(path), "--out", str(tmp_path / "b")]):
        code, line, _ = _cli(args, tmp_path)
        assert code == 2 and "outside the model's folder" in line
    assert not (tmp_path / "b").exists()


def test_external_data_shorter_than_the_model_says_is_refused(tmp_path):
    path = _with_external_data(tmp_path, "weights.bin")
    (path.parent / "weights.bin").write_bytes(b"\0" * 8)
    with pytest.raises(RefusedInput, match="which holds 8"):
        load_onnx(path)


# ---- frame shapes: one check, one message everywhere ---------------------------------------------
def test_frames_stored_transposed_are_named_as_such():
    assert frames_shape_problem((10, 1024, 2)) is None
    assert frames_shape_problem((10, 2, 1024), channels_first=True) is None
    msg = frames_shape_problem((10, 2, 1024))
    assert "expected (N, 1024, 2)" in msg and "stored transposed" in msg
    assert "stored transposed" in frames_shape_problem((10, 1024, 2), channels_first=True)
    assert "frames of 512 samples" in frames_shape_problem((10, 512, 2))
    assert "no frames" in frames_shape_problem((0, 1024, 2))


def _transposed_h5(path: Path) -> Path:
    write_toy_radioml(path, 1)
    with h5py.File(path, "a") as f:
        x = f["X"][:]
        del f["X"]
        f["X"] = np.ascontiguousarray(x.transpose(0, 2, 1))
    return path


def test_every_reader_of_frames_says_the_same_about_transposed_frames(tmp_path):
    from model.radioml import DatasetError, validate_file

    h5 = _transposed_h5(tmp_path / "t.h5")
    with pytest.raises(DatasetError, match="stored transposed"):
        validate_file(h5)
    code, line, _ = _cli(["-m", "compile.requantize", str(TINY), "--frames", str(h5), "--out",
                          str(tmp_path / "rq.onnx")], tmp_path)
    assert code == 2 and "stored transposed" in line and not (tmp_path / "rq.onnx").exists()


# ---- counts and amounts -------------------------------------------------------------------------
def test_counts_beyond_the_data_are_refused(tmp_path):
    with pytest.raises(RefusedInput, match="--n-frames 1,000,000: the data holds 1,248 frames"):
        check_count(1_000_000, 1_248, "--n-frames", "frames")
    h5 = write_toy_radioml(tmp_path / "toy.h5", 1)
    code, line, _ = _cli(["-m", "compile.requantize", str(TINY), "--frames", str(h5), "--n-frames", "1000000",
                          "--out", str(tmp_path / "rq.onnx")], tmp_path)
    assert code == 2 and "--n-frames 1,000,000: the data holds" in line and not (tmp_path / "rq.onnx").exists()


@pytest.mark.parametrize("content, message", [
    ("text", "not a numeric .npy array"), ("objects", "not a numeric .npy array"),
    ("empty", "the file is empty"), ("half", "X has shape (4, 2, 512)"),
])
def test_requantize_refuses_npy_frames_it_cannot_use(tmp_path, content, message):
    f = tmp_path / "frames.npy"
    if content == "text":
        f.write_text("1 2 3\n4 5 6\n")
    elif content == "objects":
        np.save(f, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif content == "empty":
        f.write_bytes(b"")
    else:
        np.save(f, np.zeros((4, 2, 512), np.float32))
    code, line, _ = _cli(["-m", "compile.requantize", str(TINY), "--frames", str(f), "--out",
                          str(tmp_path / "rq.onnx")], tmp_path)
    assert code == 2 and message in line, line
    assert not (tmp_path / "rq.onnx").exists()


def test_load_npy_memory_maps_numbers_only(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(6, dtype=np.int16).reshape(2, 3))
    x = load_npy(tmp_path / "x.npy", "numbers")
    assert isinstance(x, np.memmap) and x.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_requantize_refuses_an_hdf5_file_without_frames(tmp_path):
    h5 = tmp_path / "none.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("X", (0, 1024, 2), dtype=np.float32)
    code, line, _ = _cli(["-m", "compile.requantize", str(TINY), "--frames", str(h5)], tmp_path)
    assert code == 2 and "no frames" in line


def test_thread_counts_beyond_the_machine_are_refused_before_the_run(tmp_path):
    from model.config import RecipeError, load_recipe

    recipe = ROOT / "model" / "recipes" / "demo.yaml"
    with pytest.raises(RecipeError, match=f"expected 1 to {max_threads()} threads"):
        load_recipe(recipe, {"train.threads": 100_000})


def test_a_garbage_checkpoint_is_refused_without_the_resume_hint(tmp_path):
    from model.train import CheckpointError, load_checkpoint

    bad = tmp_path / "final.pt"
    bad.write_text('{"a": "json file"}')
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint") as e:
        load_checkpoint(bad)
    assert "restart" not in str(e.value)


# ---- a finished build folder measured as it is ----------------------------------------------------
def test_rtlsim_and_synth_refuse_compile_options_they_would_ignore(tiny_vgg_build, tmp_path, capsys):
    from compile.build import main

    build = copy_build(tiny_vgg_build[0], tmp_path).out_dir
    before = sorted(p.stat().st_mtime_ns for p in build.rglob("*") if p.is_file())
    for cmd in ("rtlsim", "synth"):
        code = main([cmd, str(build), "--board", "pynq-z2", "--budget", "lut=0.3"])
        err = capsys.readouterr().err
        assert code == 2 and "--board, --budget apply when compiling" in err, err
    assert sorted(p.stat().st_mtime_ns for p in build.rglob("*") if p.is_file()) == before
    # the build's own values are not "other" options
    code = main(["rtlsim", str(build), "--board", "zcu104", "--frames", "100000000000"])
    err = capsys.readouterr().err
    assert code == 2 and "--frames 100,000,000,000: the streamed frames would take" in err, err


# ---- outputs never over inputs ------------------------------------------------------------------
def test_output_checks(tmp_path):
    from amc_cli.outputs import check_output_file, check_output_folder, staged_folder, write_text

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "recipe.yaml").write_text("x")
    for out, how in ((run, "is"), (run / "sub", "lies inside"), (tmp_path, "contains")):
        with pytest.raises(RefusedInput, match=f"--out {out} {how} the input {run}"):
            check_output_folder(out, [run], marker="unroll.json")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    with pytest.raises(RefusedInput, match="holds files this command did not write"):
        check_output_folder(tmp_path / "mine", [run], marker="unroll.json")
    model = tmp_path / "m.onnx"
    model.write_text("m")
    with pytest.raises(RefusedInput, match="is the input"):
        check_output_file(tmp_path / "." / "m.onnx", [model])
    with pytest.raises(RefusedInput, match="lies inside the input"):
        check_output_file(run / "cost.json", [run])
    # a failed staging leaves the old output as it was; a finished one replaces it whole
    out = tmp_path / "out"
    out.mkdir()
    (out / "unroll.json").write_text("old")
    with pytest.raises(ZeroDivisionError):
        with staged_folder(out) as st:
            (st / "unroll.json").write_text("half")
            1 / 0
    assert (out / "unroll.json").read_text() == "old" and [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
    with staged_folder(out) as st:
        (st / "model.onnx").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]
    write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}" and len(list(tmp_path.glob(".a.json*"))) == 0


def test_unroll_never_writes_over_its_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text("name: x\n")
    (run / "model.onnx").write_bytes(b"the trained model")
    before = sorted((p.name, p.read_bytes()) for p in run.iterdir())
    for out in (run, run / "unrolled"):
        code, line, _ = _cli(["-m", "model.unroll", str(run), "--polyphase", "8", "--out", str(out)], tmp_path)
        assert code == 2 and "the command would write over what it reads" in line, line
    assert sorted((p.name, p.read_bytes()) for p in run.iterdir()) == before


def test_requantize_and_cost_never_write_over_their_model(tmp_path):
    model = tmp_path / "model.onnx"
    shutil.copy(TINY, model)
    h5 = write_toy_radioml(tmp_path / "toy.h5", 1)
    before = model.read_bytes()
    for args in (["-m", "compile.requantize", str(model), "--frames", str(h5), "--out", str(model)],
                 ["-m", "model.cost", str(model), "--out", str(model)]):
        code, line, _ = _cli(args, tmp_path)
        assert code == 2 and "is the input" in line, line
    assert model.read_bytes() == before

"""Hostile and careless input on every command line: each is refused with one line naming the mistake,
the documented exit status, and nothing of the user's lost."""
from __future__ import annotations

import json
import os
import shutil

import h5py
import numpy as np
import pytest
from compile_support import FIXTURES, VERIFY_FRAMES, copy_build
from conftest import write_toy_radioml

from model.cache import open_cache
from model.config import DataConfig, NetConfig, Recipe, RecipeError, TrainConfig, load_recipe, save_recipe
from model.pipeline import main as pipeline_main
from model.radioml import DatasetError


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def recipe_file(toy_h5, tmp_path):
    r = Recipe(name="tiny", data=DataConfig(path=str(toy_h5), synthetic_frames_per_block=None,
                                           cache_dir=str(tmp_path / "cache")),
               net=NetConfig(name="compact", args={"channels": [8, 8, 8, 8], "dense": 16}),
               train=TrainConfig(epochs=1, batch_size=64, threads=2, max_frames_per_epoch=128))
    path = tmp_path / "tiny.yaml"
    save_recipe(r, path)
    return path


def _snapshot(root):
    return sorted((str(p.relative_to(root)), p.read_bytes() if p.is_file() else None) for p in root.rglob("*"))


# ---- 2. --restart deletes only a run folder ------------------------------------------------------
def test_restart_refuses_a_folder_that_is_not_a_run_folder(recipe_file, tmp_path, capsys):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "README.md").write_text("mine")
    (repo / "src" / "x.py").write_text("print(1)")
    before = _snapshot(repo)
    assert pipeline_main([str(recipe_file), "--run", str(repo), "--restart", "--to", "data", "--quiet"]) == 2
    assert "not a run folder" in _one_line(capsys.readouterr().err)
    assert _snapshot(repo) == before
    # and without --restart, no run is scattered over it either
    assert pipeline_main([str(recipe_file), "--run", str(repo), "--to", "data", "--quiet"]) == 2
    assert "not a run folder" in _one_line(capsys.readouterr().err)
    assert _snapshot(repo) == before


def test_restart_refuses_a_run_folder_holding_other_files_and_a_file(recipe_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert pipeline_main([str(recipe_file), "--run", str(run), "--to", "data", "--quiet"]) == 0
    (run / "notes.txt").write_text("my notes")
    before = _snapshot(run)
    assert pipeline_main([str(recipe_file), "--run", str(run), "--restart", "--to", "data", "--quiet"]) == 2
    assert "notes.txt" in _one_line(capsys.readouterr().err)
    assert _snapshot(run) == before
    (run / "notes.txt").unlink()
    assert pipeline_main([str(recipe_file), "--run", str(run), "--restart", "--to", "data", "--quiet"]) == 0
    assert (run / "recipe.yaml").is_file() and (run / "data.json").is_file()

    a_file = tmp_path / "precious.txt"
    a_file.write_text("keep")
    assert pipeline_main([str(recipe_file), "--run", str(a_file), "--restart", "--quiet"]) == 2
    assert "not a run folder" in _one_line(capsys.readouterr().err)
    assert a_file.read_text() == "keep"


# ---- 3. the data cache belongs to the source's content -------------------------------------------
def test_two_files_of_one_name_size_and_mtime_get_their_own_caches(tmp_path):
    a = write_toy_radioml((tmp_path / "a").mkdir() or tmp_path / "a" / "data.h5", 2, seed=1)
    b = write_toy_radioml((tmp_path / "b").mkdir() or tmp_path / "b" / "data.h5", 2, seed=2)
    assert a.stat().st_size == b.stat().st_size
    os.utime(b, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns))
    ca = open_cache(a, tmp_path / "cache", progress=False)
    cb = open_cache(b, tmp_path / "cache", progress=False)
    assert ca.directory != cb.directory
    for path, cache in ((a, ca), (b, cb)):
        with h5py.File(path) as f:
            want = np.clip(np.rint(np.swapaxes(f["X"][:8], 1, 2) * 64), -128, 127)
        assert np.array_equal(np.asarray(cache.x[:8], np.float64), want)
    # a file replaced in place by other bytes of the same size and mtime is cached anew, never trusted
    stamp = a.stat().st_mtime_ns
    shutil.copyfile(b, a)
    os.utime(a, ns=(stamp, stamp))
    again = open_cache(a, tmp_path / "cache", progress=False)
    assert again.directory == cb.directory or again.source["sha256"] == cb.source["sha256"]
    assert np.array_equal(np.asarray(again.x), np.asarray(cb.x))


def test_a_damaged_cache_is_rebuilt_not_trusted(tmp_path, capsys):
    a = write_toy_radioml(tmp_path / "a.h5", 2, seed=1)
    c = open_cache(a, tmp_path / "cache", progress=False)
    meta = json.loads((c.directory / "meta.json").read_text())
    meta["source"]["sha256"] = "0" * 64  # a cache that records another source under this name
    (c.directory / "meta.json").write_text(json.dumps(meta))
    again = open_cache(a, tmp_path / "cache", progress=False)
    assert json.loads((again.directory / "meta.json").read_text())["source"]["sha256"] != "0" * 64
    assert f"[cache] {c.directory}: meta.json records another source" in capsys.readouterr().err
    # more damage (arrays altered in place, truncated, missing; concurrent builders): tests/model/test_cache.py


# ---- 6. every row's label and SNR ---------------------------------------------------------------
@pytest.mark.parametrize("damage, message", [
    (lambda f: f["Y"].__setitem__(5, np.eye(24, dtype=np.int64)[7]), "frame 5 is labelled 32PSK"),
    (lambda f: f["Y"].__setitem__(4 * 26 * 3 + 2, np.ones(24, np.int64)), "not one-hot"),
    (lambda f: f["Z"].__setitem__(3, 12), "frame 3 has SNR 12"),
])
def test_labels_and_snrs_are_checked_on_every_row(tmp_path, damage, message):
    path = write_toy_radioml(tmp_path / "bad.h5", 4)
    with h5py.File(path, "r+") as f:
        damage(f)
    with pytest.raises(DatasetError, match=message):
        open_cache(path, tmp_path / "cache", progress=False)
    assert not [p for p in (tmp_path / "cache").iterdir()] if (tmp_path / "cache").exists() else True


# ---- 7. recipe values: type and range, key named, before anything runs --------------------------
@pytest.mark.parametrize("setting, message", [
    ("train.epochs=0", "train.epochs: expected at least 1 epoch"),
    ("data.val_fraction=1.5", "data.val_fraction: expected a fraction"),
    ("train.epochs=abc", "train.epochs: expected an integer, got 'abc'"),
    ("train.lr=-0.1", "train.lr: expected a learning rate > 0"),
    ("train.optimizer=adamw", "train.optimizer: expected one of adam, sgd"),
    ("train.batch_size=1.5", "train.batch_size: expected an integer"),
    ("data.cache_encoding=int4", "data.cache_encoding: expected one of"),
    ("train.epochs.x=1", "train.epochs is 1, not a mapping"),
    ("name.first=x", "name is 'tiny', not a mapping"),
    ("compress.stages=3", "compress.stages: expected a list"),
])
def test_bad_recipe_values_are_named_before_the_run_starts(recipe_file, tmp_path, capsys, setting, message):
    run = tmp_path / "run"
    assert pipeline_main([str(recipe_file), "--run", str(run), "--set", setting, "--quiet"]) == 2
    assert message in _one_line(capsys.readouterr().err)
    assert not run.exists()


def test_stage_values_are_checked_too():
    with pytest.raises(RecipeError, match=r"compress\.stages\[0\]\.fraction: expected a fraction"):
        load_recipe("model/recipes/ours.yaml", {"compress.stages.0.fraction": 1.2})
    with pytest.raises(RecipeError, match=r"--set compress\.stages\.7\.fraction: compress\.stages is a list of 1"):
        load_recipe("model/recipes/ours.yaml", {"compress.stages.7.fraction": 0.5})


# ---- 8. one line for each mistake ---------------------------------------------------------------
def test_a_yaml_syntax_error_names_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrain:\n  epochs: [1\n")
    assert pipeline_main([str(bad), "--run", str(tmp_path / "r"), "--quiet"]) == 2
    assert "YAML syntax error at line" in _one_line(capsys.readouterr().err)
    bad.write_text("- just\n- a list\n")
    assert pipeline_main([str(bad), "--run", str(tmp_path / "r"), "--quiet"]) == 2
    assert "a recipe is a mapping" in _one_line(capsys.readouterr().err)


def _data_file(tmp_path, kind):
    p = tmp_path / f"{kind}.h5"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("this is not HDF5\n")
    else:
        good = write_toy_radioml(tmp_path / "good.h5", 2)
        p.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    return p


@pytest.mark.parametrize("kind, message", [("empty", "the file is empty"), ("text", "not an HDF5 file"),
                                           ("truncated", "the file is truncated")])
def test_a_broken_data_file_is_named(recipe_file, tmp_path, capsys, kind, message):
    data = _data_file(tmp_path, kind)
    before = data.read_bytes()
    code = pipeline_main([str(recipe_file), "--run", str(tmp_path / "r"), "--data", str(data), "--quiet"])
    assert code == 2
    line = _one_line(capsys.readouterr().err)
    assert message in line and "Unable to" not in line.split("(")[0]
    assert data.read_bytes() == before


def _compile(argv, capsys):
    from compile.build import main

    try:
        code = main(argv)
    except SystemExit as e:  # argparse: usage errors
        code = e.code
    return code, capsys.readouterr()


def _bad_models(tmp_path):
    import onnx

    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "text.onnx").write_text("not a model\n")
    m = onnx.load(str(FIXTURES / "tiny_vgg" / "model.onnx"))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(m, str(tmp_path / "dynamic.onnx"))


@pytest.mark.parametrize("model, message", [("empty.onnx", "the file is empty"),
                                            ("text.onnx", "not a readable ONNX model"),
                                            ("dynamic.onnx", "a dynamic batch dimension is not supported"),
                                            ("missing.onnx", "no such model file")])
def test_compile_names_a_bad_model(tmp_path, capsys, model, message):
    _bad_models(tmp_path)
    code, out = _compile(["compile", str(tmp_path / model), "--out", str(tmp_path / "b")], capsys)
    assert code == 2 and message in _one_line(out.err)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("args, message", [
    (["--target-fps", "0"], "is not a positive number"), (["--target-fps", "nan"], "is not a positive number"),
    (["--target-fps", "-5"], "is not a positive number"), (["--verify-frames", "0"], "is not a positive"),
])
def test_compile_refuses_bad_numbers(tmp_path, capsys, args, message):
    code, out = _compile(["compile", str(FIXTURES / "tiny_vgg"), "--out", str(tmp_path / "b"), *args], capsys)
    assert code == 2 and message in out.err and "Traceback" not in out.err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("flag, text, message", [
    ("--board", "name: x\n  part: [\n", "YAML syntax error at line 2"),
    ("--board", "- a list\n", "a board definition is a mapping"),
    ("--folding", "{bad json", "not a JSON folding config"),
])
def test_compile_names_a_damaged_board_or_folding_file(tmp_path, capsys, flag, text, message):
    f = tmp_path / ("board.yaml" if flag == "--board" else "folding.json")
    f.write_text(text)
    code, out = _compile(["compile", str(FIXTURES / "tiny_vgg"), "--out", str(tmp_path / "b"), flag, str(f)], capsys)
    assert code == 2 and message in _one_line(out.err)
    assert not (tmp_path / "b").exists()


def test_compile_out_never_takes_a_file_or_a_folder_of_other_files(tmp_path, capsys):
    a_file = tmp_path / "afile"
    a_file.write_text("keep")
    code, out = _compile(["compile", str(FIXTURES / "tiny_vgg"), "--out", str(a_file)], capsys)
    assert code == 2 and "is a file, not a folder" in _one_line(out.err) and a_file.read_text() == "keep"
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("keep")
    code, out = _compile(["compile", str(FIXTURES / "tiny_vgg"), "--out", str(folder)], capsys)
    assert code == 2 and "did not write (no build_config.json)" in _one_line(out.err)
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]


# ---- 4. a build records its model, and is checked wherever it is used -----------------------------
def test_a_build_records_its_model_and_refuses_another(tiny_vgg_build, tmp_path, capsys):
    from compile.config import BuildMismatch, check_build_model, config_from_build, model_digest

    cfg, _ = tiny_vgg_build
    vgg, dsres = FIXTURES / "tiny_vgg" / "model.onnx", FIXTURES / "tiny_dsres" / "model.onnx"
    b = copy_build(cfg, tmp_path).out_dir
    digest = model_digest(vgg)
    assert json.loads((b / "build_config.json").read_text())["model_sha256"] == digest
    assert json.loads((b / "report.json").read_text())["model_sha256"] == digest
    assert check_build_model(b, vgg) == digest
    with pytest.raises(BuildMismatch, match="another model"):
        check_build_model(b, dsres)

    # a partial build of another model into it is refused, and nothing is touched
    before = _snapshot(b)
    for flag in (["--to-step", "folding"], ["--from-step", "folding"]):
        code, out = _compile(["compile", str(FIXTURES / "tiny_dsres"), "--out", str(b), *flag], capsys)
        assert code == 2 and "holds a build of another model" in _one_line(out.err)
    assert _snapshot(b) == before
    # the bitstream entry checks that a reused build is of its model
    code, out = _compile(["bitstream", str(FIXTURES / "tiny_dsres"), "--out", str(b), "--reuse"], capsys)
    assert code == 2 and "was built from another model" in _one_line(out.err)

    # a whole compile of another model starts clean (the user's own files stay)
    (b / "notes.txt").write_text("mine")
    (b / "rtlsim").mkdir()
    code, out = _compile(["compile", str(FIXTURES / "tiny_dsres"), "--out", str(b), "--verify-frames",
                          str(VERIFY_FRAMES)], capsys)
    assert code == 0, out.err
    assert "held a build of another model" in out.out and "removed its artefacts" in out.out
    assert (b / "notes.txt").read_text() == "mine" and not (b / "rtlsim").exists()
    assert json.loads((b / "report.json").read_text())["model_sha256"] == model_digest(dsres)
    assert all("dsres" in str(json.loads((b / "build_config.json").read_text())["model_path"]) for _ in [0])

    # a build whose model changed since is refused where it is reused (rtlsim of a build folder)
    model = tmp_path / "m" / "model.onnx"
    model.parent.mkdir()
    shutil.copy(dsres, model)
    c = copy_build(cfg, tmp_path / "c")
    d = json.loads((c.out_dir / "build_config.json").read_text())
    d.update(model_path=str(model), model_sha256=model_digest(model))
    (c.out_dir / "build_config.json").write_text(json.dumps(d))
    assert config_from_build(c.out_dir).model_sha256 == model_digest(model)
    model.write_bytes(vgg.read_bytes())
    with pytest.raises(BuildMismatch, match="has changed since"):
        config_from_build(c.out_dir)


# ---- 5. a missed target, or a design over budget or over the board, fails unless allowed ---------
def test_an_impossible_target_fails_and_says_so(tiny_vgg_build, tmp_path, capsys):
    cfg, _ = tiny_vgg_build
    b = copy_build(cfg, tmp_path).out_dir
    argv = ["compile", str(FIXTURES / "tiny_vgg"), "--out", str(b), "--from-step", "folding", "--target-fps", "1e12",
            "--verify-frames", str(VERIFY_FRAMES)]
    code, out = _compile(argv, capsys)
    line = _one_line(out.err)
    assert code == 1
    # fully parallel, the tiny network needs more DSP slices than the board has (its weights, one word deep,
    # sit in LUTs: no block RAM)
    assert "the target of 1e+12 frames/s is missed" in line and "of the board's DSP" in line
    assert "--allow-over-budget" in line
    rep = json.loads((b / "report.json").read_text())  # the report is still written
    assert rep["target_fps"] == 1e12 and rep["meets_target"] is False and not rep["fits_board"] and rep["problems"]
    code, out = _compile(argv + ["--allow-over-budget"], capsys)
    assert code == 0 and "accepted: --allow-over-budget" in out.err

    # a met target exits 0; a slice that stops before the estimate prints no stale one
    code, out = _compile(argv[:-4] + ["--target-fps", "50000", "--verify-frames", str(VERIFY_FRAMES)], capsys)
    assert code == 0 and "estimate:" in out.out, out.err
    code, out = _compile(argv[:-4] + ["--to-step", "folding", "--verify-frames", str(VERIFY_FRAMES)], capsys)
    assert code == 0 and "estimate:" not in out.out and "no estimate yet" in out.out


# ---- sweep and cost command lines ---------------------------------------------------------------
@pytest.mark.parametrize("spec, message", [
    ("name: x\ntrials: [{recipe: model/recipes/demo.yaml, set: {train.epochs: 0}}]\n",
     "trials[0]: train.epochs: expected at least 1 epoch"),
    ("name: x\n  bad: [\n", "YAML syntax error"),
    ("name: x\ntrials: 3\n", "trials: expected a list"),
    ("name: x\nbase: model/recipes/demo.yaml\ngrid: {train.lr: [0.01, -1]}\n", "train.lr: expected a learning rate"),
])
def test_sweep_checks_its_spec_before_any_trial(tmp_path, capsys, spec, message):
    from model.sweep import main

    path = tmp_path / "s.yaml"
    path.write_text(spec)
    assert main(["run", str(path), "--out", str(tmp_path / "sw")]) == 2
    assert message in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "sw").exists()


def test_cost_names_a_bad_file(tmp_path, capsys):
    from model.cost import main

    _bad_models(tmp_path)
    for name, message in (("empty.onnx", "the file is empty"), ("text.onnx", "not a readable ONNX"),
                          ("dynamic.onnx", "the challenge costs a graph with input (1, 2, 1024)")):
        assert main([str(tmp_path / name)]) == 2
        assert message in _one_line(capsys.readouterr().err)

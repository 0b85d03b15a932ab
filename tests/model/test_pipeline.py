"""The training run end to end on a small toy file: artefacts, resume, interruption, recipe errors."""

import json

import numpy as np
import pytest
import torch

from model import train as train_mod
from model.config import DataConfig, NetConfig, Recipe, RecipeError, TrainConfig, load_recipe, save_recipe
from model.metrics import top1
from model.pipeline import RunFolder, main, run_pipeline

TINY_NET = NetConfig(name="compact", args={"channels": [8, 16, 16, 16], "dense": 32, "w_bits": 4, "a_bits": 4})


def tiny_recipe(toy_h5, tmp_path, epochs=2, frames_per_epoch=2048) -> Recipe:
    return Recipe(
        name="tiny",
        data=DataConfig(path=str(toy_h5), synthetic_frames_per_block=None, cache_dir=str(tmp_path / "cache")),
        net=TINY_NET,
        train=TrainConfig(epochs=epochs, batch_size=128, lr=0.01, scheduler="cosine", threads=2,
                          max_frames_per_epoch=frames_per_epoch),
    )


def test_run_leaves_every_artefact_and_learns_the_toy_task(toy_h5, tmp_path):
    run = run_pipeline(tiny_recipe(toy_h5, tmp_path), tmp_path / "run", progress=False)
    for p in (run.recipe, run.last, run.best, run.final, run.data, run.history, run.metrics, run.predictions,
              run.onnx, run.io, run.cost,
              run.export, run.plots / "accuracy_vs_snr.png", run.plots / "confusion.png"):
        assert p.exists(), p
    metrics = json.loads(run.metrics.read_text())
    assert metrics["data"]["kind"] == "radioml-schema"
    assert metrics["accuracy"] > 0.2  # chance is 1/24; the toy classes are separable tones
    assert metrics["accuracy_per_snr"]["30"] > metrics["accuracy_per_snr"]["-20"]
    io = json.loads(run.io.read_text())
    assert io["input"]["quant"]["scale"] == 1 / 64 and io["classes"][0] == "OOK"
    cost = json.loads(run.cost.read_text())
    assert cost["total_bops"] > 0 and 0 < cost["score"] < 1
    assert json.loads(run.export.read_text())["verification"]["top1_agreement"] == 1.0


def _weights(path):
    return train_mod.load_checkpoint(path)["model"]


def interrupt_at_batch(monkeypatch, n: int) -> None:
    """Make training raise KeyboardInterrupt (Ctrl-C) at its n-th batch, counted across epochs."""
    calls = {"n": 0}
    real = train_mod.cross_entropy_objective

    def objective(net, x, y):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(net, x, y)

    monkeypatch.setattr("model.compress.objectives.make_objective", lambda *a, **k: objective)


def test_interrupted_run_resumes_to_the_same_weights_as_an_uninterrupted_one(toy_h5, tmp_path, monkeypatch):
    def recipe():
        return tiny_recipe(toy_h5, tmp_path, frames_per_epoch=512)  # 4 batches of 128 per epoch

    straight = run_pipeline(recipe(), tmp_path / "straight", last="train", progress=False)

    interrupt_at_batch(monkeypatch, 4 + 2)  # the second batch of epoch two
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(recipe(), tmp_path / "run", last="train", progress=False)
    run = RunFolder(tmp_path / "run")
    assert train_mod.load_checkpoint(run.last)["epoch"] == 1
    assert not list(run.checkpoints.glob("*.tmp"))

    monkeypatch.undo()
    run_pipeline(recipe(), tmp_path / "run", last="train", progress=False)
    a, b = _weights(straight.last), _weights(run.last)
    assert train_mod.load_checkpoint(run.last)["epoch"] == 2
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert len(json.loads(run.history.read_text())) == 2


def test_cli_interrupt_keeps_finished_epochs_and_a_run_can_be_closed_there(toy_h5, tmp_path, monkeypatch, capsys):
    """What research/gpu_baseline_curve.sh relies on when its budget stops training mid-run."""
    recipe_file = tmp_path / "tiny.yaml"
    save_recipe(tiny_recipe(toy_h5, tmp_path, epochs=3, frames_per_epoch=512), recipe_file)
    cli = [str(recipe_file), "--run", str(tmp_path / "run"), "--quiet"]
    interrupt_at_batch(monkeypatch, 4 + 2)
    assert main(cli + ["--to", "train"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    monkeypatch.undo()

    assert main(cli + ["--set", "train.epochs=1", "--from", "train", "--to", "evaluate"]) == 0
    run = RunFolder(tmp_path / "run")
    assert [h["epoch"] for h in json.loads(run.history.read_text())] == [1]
    assert load_recipe(run.recipe).train.epochs == 1
    assert json.loads(run.metrics.read_text())["n_frames"] > 0


def test_a_run_folder_refuses_another_recipe(toy_h5, tmp_path):
    run_pipeline(tiny_recipe(toy_h5, tmp_path, 1), tmp_path / "run", last="data", progress=False)
    reworded = tiny_recipe(toy_h5, tmp_path, 1)
    reworded.description = "the same experiment, described anew"
    run_pipeline(reworded, tmp_path / "run", last="data", progress=False)  # prose is not the experiment
    other = tiny_recipe(toy_h5, tmp_path, 1)
    other.train.lr = 0.5
    with pytest.raises(RecipeError, match="different recipe"):
        run_pipeline(other, tmp_path / "run", last="data", progress=False)
    run_pipeline(other, tmp_path / "run", last="data", restart=True, progress=False)


def test_recipe_typos_are_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epoch: 3\n")
    with pytest.raises(RecipeError, match=r"train\.: unknown key\(s\) \['epoch'\]"):
        load_recipe(bad)
    good = load_recipe("model/recipes/demo.yaml", {"train.epochs": 1, "net.args.dense": 8})
    assert good.train.epochs == 1 and good.net.args["dense"] == 8


def test_cli_reports_a_missing_data_file(tmp_path, capsys):
    code = main(["model/recipes/demo.yaml", "--run", str(tmp_path / "r"), "--data", str(tmp_path / "nope.h5"),
                 "--quiet"])
    assert code == 2
    assert "step 'data' failed" in capsys.readouterr().err


def test_predictions_file_matches_the_metrics(toy_h5, tmp_path):
    run = run_pipeline(tiny_recipe(toy_h5, tmp_path, epochs=1, frames_per_epoch=512), tmp_path / "run",
                       last="evaluate", progress=False)
    pred = np.load(run.predictions)
    metrics = json.loads(run.metrics.read_text())
    assert len(pred["index"]) == metrics["n_frames"]
    assert (pred["predicted"] == pred["label"]).mean() == pytest.approx(metrics["accuracy"])
    assert np.array_equal(pred["predicted"], top1(pred["logits"]))  # ties to the lowest class, as the driver


def test_weight_decay_spares_quantizer_scales_and_batchnorm():
    from model.nets import build_net
    from model.train import param_groups

    net = build_net("ours")
    decayed, spared = param_groups(net, 1e-4)
    names = {id(p): n for n, p in net.named_parameters()}
    assert decayed["weight_decay"] == 1e-4 and spared["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decayed["params"])
    spared_names = [names[id(p)] for p in spared["params"]]
    assert any("scaling_impl.value" in n for n in spared_names)  # learned activation scales
    assert any(n.endswith(".bias") for n in spared_names)
    assert len(decayed["params"]) + len(spared["params"]) == len(list(net.parameters()))

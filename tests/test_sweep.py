"""Sweeps: a grid runs as an Optuna study, its table and Pareto front come out, a rerun adds nothing."""

import json

import pytest
import yaml

from model.config import RecipeError, load_recipe
from model.sweep import hardware_row, load_spec, main, pareto_front


def test_pareto_front_keeps_only_undominated_rows():
    rows = [{"trial": "a", "accuracy": 0.6, "score": 0.02}, {"trial": "b", "accuracy": 0.58, "score": 0.01},
            {"trial": "c", "accuracy": 0.57, "score": 0.03}, {"trial": "d", "accuracy": 0.6, "score": 0.02}]
    assert sorted(r["trial"] for r in pareto_front(rows)) == ["a", "b", "d"]


def test_spec_errors_name_the_problem(tmp_path):
    both = tmp_path / "both.yaml"
    both.write_text(yaml.safe_dump({"trials": [{"recipe": "x.yaml"}], "base": "x.yaml", "grid": {"a": [1]}}))
    with pytest.raises(RecipeError, match="either `trials` or `base`"):
        load_spec(both)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"base": "x.yaml", "grid": {"a": [1]}, "sampler": "random-walk"}))
    with pytest.raises(RecipeError, match="sampler"):
        load_spec(bad)


def test_dotted_overrides_reach_into_lists(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"compress": {"stages": [{"kind": "magnitude", "fraction": 0.1}]}}))
    assert load_recipe(recipe, {"compress.stages.0.fraction": 0.5}).compress.stages[0].fraction == 0.5


def test_hardware_row_reads_compile_reports():
    report = {"board": "zcu104", "throughput": {"frames_per_s": 1000.0}, "fits_board": True,
              "resources": {"LUT": {"estimate": 12.0}, "BRAM_18K": {"estimate": 3.0}, "DSP": {"estimate": 0.0}}}
    assert hardware_row(report) == {"hw_board": "zcu104", "hw_frames_per_s": 1000.0, "hw_lut": 12.0,
                                    "hw_bram_18k": 3.0, "hw_dsp": 0.0, "hw_fits_board": True}


def write_toy_grid_spec(toy_h5, tmp_path, name: str, frames_per_epoch: int):
    """(spec file, output folder) of a two-point grid over the demo recipe's weight bits, on the toy file."""
    spec = {
        "name": name,
        "set": {"data.path": str(toy_h5), "data.synthetic_frames_per_block": None,
                "data.cache_dir": str(tmp_path / "cache"), "train.epochs": 1,
                "train.max_frames_per_epoch": frames_per_epoch, "train.batch_size": 128,
                "net.args.channels": [4, 8, 8, 8]},
        "base": "model/recipes/demo.yaml",
        "grid": {"net.args.w_bits": [2, 4]},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, tmp_path / "sweep"


def test_grid_sweep_writes_table_and_plot_and_resumes(toy_h5, tmp_path, capsys):
    path, out = write_toy_grid_spec(toy_h5, tmp_path, "tiny", 256)
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    rows = json.loads((out / "results.json").read_text())
    assert sorted(r["trial"] for r in rows) == ["net.args.w_bits=2", "net.args.w_bits=4"]
    two, four = sorted(rows, key=lambda r: r["trial"])
    assert two["bit_mem"] < four["bit_mem"] and two["score"] < four["score"]
    assert any(r["pareto"] for r in rows) and (out / "pareto.png").stat().st_size > 0
    assert "| net.args.w_bits=2 |" in (out / "results.md").read_text()
    stamp = (out / "trials" / "net.args.w_bits=2" / "metrics.json").stat().st_mtime_ns
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0  # all grid points done: nothing reruns
    assert (out / "trials" / "net.args.w_bits=2" / "metrics.json").stat().st_mtime_ns == stamp


def test_a_trial_that_raised_runs_again_on_the_next_sweep(toy_h5, tmp_path, monkeypatch, capsys):
    """A trial that raised (here: once, as a since-fixed bug would) is failed, the sweep goes on, and the
    next `sweep run` queues it again instead of counting its grid point as visited."""
    from model import sweep

    path, out = write_toy_grid_spec(toy_h5, tmp_path, "flaky", 128)
    real_run_trial = sweep.run_trial

    def broken_for_two_bits(spec, out, params, progress=True):
        if params["net.args.w_bits"] == 0:  # Optuna holds the grid's indices: 0 is w_bits 2
            raise RuntimeError("a bug, fixed before the next run")
        return real_run_trial(spec, out, params, progress)

    monkeypatch.setattr(sweep, "run_trial", broken_for_two_bits)
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    assert [r["trial"] for r in json.loads((out / "results.json").read_text())] == ["net.args.w_bits=4"]
    monkeypatch.setattr(sweep, "run_trial", real_run_trial)
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    assert "net.args.w_bits=2 failed in an earlier run; queued again" in capsys.readouterr().err
    rows = json.loads((out / "results.json").read_text())
    assert sorted(r["trial"] for r in rows) == ["net.args.w_bits=2", "net.args.w_bits=4"]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")  # ask() plays the worker
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_dead_workers_trial_is_failed_and_queued_again(tmp_path, monkeypatch):
    """A worker killed mid-trial leaves it RUNNING; its stale heartbeat fails it and queues a retry with
    the same parameters, so the grid does not wait on it forever."""
    import time

    import optuna

    from model import sweep

    monkeypatch.setattr(sweep, "HEARTBEAT_S", 1)
    monkeypatch.setattr(sweep, "GRACE_S", 1)
    spec = sweep.SweepSpec(name="s", base="x.yaml", grid={"train.epochs": [1, 2]})
    study = sweep.open_study(spec, tmp_path, None)
    dead = study.ask()
    dead.suggest_categorical("train.epochs", [1, 2])
    study._storage.record_heartbeat(dead._trial_id)  # what a live worker's heartbeat thread writes
    time.sleep(2.5)
    optuna.storages.fail_stale_trials(study)  # what every worker runs before its next trial
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    assert study.trials[1].params == dead.params

"""Sweeps: a grid runs as an Optuna study, its table and Pareto front come out, a rerun adds nothing."""

import json
import re

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


def valid_record() -> dict:
    from model.sweep import RECORD_FORMAT

    figures = {"accuracy": 0.61, "accuracy_0db": 0.5, "accuracy_high_snr": 0.9, "bit_ops": 1e6, "bit_mem": 1e4,
               "score": 0.01}
    return {"format": RECORD_FORMAT, "sweep": "rec", "trial": "demo", "label": "demo", "seed": 0,
            "protocol": {"name": "p", "stages": None, "max_val_drop": None}, "recipe_sha256": "0" * 64,
            "recipe": {}, "data": {"kind": "synthetic"}, "environment": {},
            "row": {"trial": "demo", "data": "synthetic", **figures},
            "rungs": [{"level": 0, "kind": "trained", "accepted": True, "density": 1.0, **figures}]}


@pytest.mark.parametrize("command", ["run", "report"])
@pytest.mark.parametrize("content, message", [
    (json.dumps(valid_record(), indent=1)[:200], "not valid JSON (cut short?)"),
    ("", "an empty file, not a point record"),
    (json.dumps({**valid_record(), "row": {**valid_record()["row"], "accuracy": "0.61"}}),
     "row.accuracy: expected an accuracy (a number from 0 to 1), got the string '0.61'"),
    (json.dumps({**valid_record(), "rungs": [{**valid_record()["rungs"][0], "accuracy": "high"}]}),
     "rungs[0].accuracy: expected an accuracy (a number from 0 to 1), got the string 'high'"),
])
def test_a_damaged_point_record_is_refused_in_one_line(tmp_path, capsys, command, content, message):
    """A record cut short, empty, or with a string for an accuracy stops `sweep run` and `sweep report`
    before anything is written: one line naming the file and what is wrong, exit status 2."""
    records = tmp_path / "records"
    records.mkdir()
    (records / "demo.json").write_text(content)
    spec = tmp_path / "rec.yaml"
    spec.write_text(yaml.safe_dump({"name": "rec", "trials": [{"name": "demo", "recipe": "model/recipes/demo.yaml"}],
                                    "protocol": {"name": "p"}, "records": str(records)}))
    out = tmp_path / "sweep"
    assert main([command, str(spec), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {records / 'demo.json'}: {message}"), captured.err
    assert "delete it and the next `sweep run` measures that point again" in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()


def test_a_valid_point_record_passes_the_check(tmp_path):
    from model.sweep import load_record

    (tmp_path / "r.json").write_text(json.dumps(valid_record()))
    assert load_record(tmp_path / "r.json")["row"]["accuracy"] == 0.61


@pytest.mark.parametrize("env, message", [
    ({"AMC_SWEEP_GRACE_S": "soon"}, "$AMC_SWEEP_GRACE_S='soon': expected whole seconds, at least 1"),
    ({"AMC_SWEEP_HEARTBEAT_S": "10", "AMC_SWEEP_GRACE_S": "10"}, "is not longer than the heartbeat interval"),
])
def test_heartbeat_settings_from_the_environment_are_checked(monkeypatch, env, message):
    from amc_cli import RefusedInput
    from model.sweep import heartbeat_settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(RefusedInput, match=re.escape(message)):
        heartbeat_settings()
    monkeypatch.setenv("AMC_SWEEP_HEARTBEAT_S", "2")
    monkeypatch.setenv("AMC_SWEEP_GRACE_S", "7")
    assert heartbeat_settings() == (2, 7)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")  # ask() plays the worker
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_point_another_worker_has_is_not_run_twice_nor_counted_twice(tmp_path):
    """Optuna's grid sampler hands a worker a point another worker is running once every point has started:
    the sweep sees it is taken (by a running trial that started first, or a complete one), and a point two
    workers completed in a race is one row of the table."""
    import optuna

    from model import sweep

    spec = sweep.SweepSpec(name="s", base="x.yaml", grid={"train.epochs": [1, 2]})
    study = sweep.open_study(spec, tmp_path, None)
    for _ in range(3):
        study.enqueue_trial({"train.epochs": 0})  # what the grid sampler's fallback amounts to
    first, second = study.ask(), study.ask()
    for t in (first, second):
        t.suggest_categorical("train.epochs", [0, 1])
    assert sweep.taken_by(study, second.number, second.params).number == first.number
    assert sweep.taken_by(study, first.number, first.params) is None  # the first keeps running
    study.tell(first, [0.5, 0.1])
    study.tell(second, [0.4, 0.2])  # a race both won
    assert [t.number for t in sweep.completed_trials(study)] == [first.number]
    third = study.ask()
    third.suggest_categorical("train.epochs", [0, 1])
    assert sweep.taken_by(study, third.number, third.params).state == optuna.trial.TrialState.COMPLETE

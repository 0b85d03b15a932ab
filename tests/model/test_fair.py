"""A fair comparison (issue 19): one protocol's floor reaches threshold rounds too, every compression step's
model is scored (the ladder), finished points are recorded and skipped, seeds are averaged into fronts."""

import json
import shutil

import pytest
import yaml

from model.fronts import aggregate, format_fronts_table, plot_fronts
from model.sweep import load_spec, main, trial_recipe

TINY_SET = {"data.synthetic_frames_per_block": None, "train.epochs": 1, "train.max_frames_per_epoch": 256,
            "train.batch_size": 128, "train.threads": 1}


def write_spec(tmp_path, toy_h5, **fields) -> str:
    spec = {"name": "tiny-fair", "set": {**TINY_SET, "data.path": str(toy_h5),
                                         "data.cache_dir": str(tmp_path / "cache")}, **fields}
    path = tmp_path / "fair.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def test_the_protocols_floor_undoes_a_threshold_round_that_costs_too_much(toy_h5, tmp_path):
    """bacalhaunet's threshold rounds run without a floor in its recipe; under a protocol with a floor, a
    round that prunes every weight is undone (and one that prunes none is kept), as magnitude steps are."""
    from model.pipeline import run_pipeline

    rounds = {"kind": "threshold", "eps": [1e-9, 100.0], "finetune": {"epochs": 0}}
    path = write_spec(tmp_path, toy_h5, protocol={"name": "floor-0", "max_val_drop": 0.0}, trials=[
        {"name": "bacalhaunet", "recipe": "model/recipes/bacalhaunet.yaml"},
        {"name": "tiny", "recipe": "model/recipes/demo.yaml",  # learns the toy tones in one short epoch
         "set": {"net.args.channels": [4, 8, 8, 8], "train.max_frames_per_epoch": 2048, "compress.stages": [rounds]}}])
    spec = load_spec(path)
    bacalhaunet = trial_recipe(spec, {"trial": 0})[1].compress.stages[0]
    assert bacalhaunet.kind == "threshold" and bacalhaunet.max_val_drop == 0.0  # its recipe says null
    _, recipe = trial_recipe(spec, {"trial": 1})
    run = run_pipeline(recipe, tmp_path / "run", last="compress", progress=False)
    steps = json.loads(run.compress_summary.read_text())["steps"]
    assert steps[0]["start_val_acc"] > 0.1  # chance is 1/24: the floor has room to bite
    assert [s["accepted"] for s in steps] == [True, False]
    assert steps[1]["val_acc"] < steps[1]["floor"] == pytest.approx(steps[0]["start_val_acc"])


def test_a_seeded_sweep_records_each_ladder_skips_recorded_points_and_draws_fronts(toy_h5, tmp_path):
    records = tmp_path / "records"
    path = write_spec(
        tmp_path, toy_h5, records=str(records), seeds=[0, 1],
        protocol={"name": "mag-0.5x2", "stages": [{"kind": "magnitude", "fraction": 0.5, "max_steps": 2,
                                                   "finetune": {"epochs": 1}}]},
        trials=[{"name": "demo", "recipe": "model/recipes/demo.yaml", "set": {"net.args.channels": [4, 8, 8, 8]}}])
    out = tmp_path / "sweep"
    assert main(["run", path, "--out", str(out), "--quiet"]) == 0
    rows = {r["trial"]: r for r in json.loads((out / "results.json").read_text())}
    assert sorted(rows) == ["demo-seed0", "demo-seed1"]
    assert {r["protocol"] for r in rows.values()} == {"mag-0.5x2"}
    for seed in (0, 1):
        rec = json.loads((records / f"demo-seed{seed}.json").read_text())
        assert rec["seed"] == seed and rec["recipe"]["train"]["seed"] == seed and rec["data"]["kind"]
        assert rec["environment"]["threads"] == 1
        rungs = rec["rungs"]
        assert [r["level"] for r in rungs] == [0, 1, 2] and all(r["accepted"] for r in rungs)
        density = [r["density"] for r in rungs]  # quantization leaves some zeros before any pruning
        assert density[0] > density[1] > density[2] == pytest.approx(0.25, abs=0.03)
        assert rungs[0]["score"] > rungs[1]["score"] > rungs[2]["score"]
        # the last rung is the run's own final model: the same test accuracy and cost as its row
        assert rungs[-1]["accuracy"] == rows[f"demo-seed{seed}"]["accuracy"]
        assert rungs[-1]["score"] == pytest.approx(rows[f"demo-seed{seed}"]["score"])
    fronts = json.loads((out / "fronts.json").read_text())
    assert [(f["recipe"], f["level"], f["seeds"]) for f in fronts] == [("demo", k, [0, 1]) for k in range(3)]
    assert (out / "fronts.png").stat().st_size > 0 and "| demo | 2 (magnitude) | 2 |" in (out / "fronts.md").read_text()

    # a fresh checkout: runs/ is gone, the committed records remain; nothing trains again
    shutil.rmtree(out)
    assert main(["run", path, "--out", str(out), "--quiet"]) == 0
    assert not (out / "trials").exists()
    assert json.loads((out / "fronts.json").read_text()) == fronts

    # a record measured under another protocol is not reused
    spec = yaml.safe_load(open(path))
    spec["protocol"]["stages"][0]["fraction"] = 0.4
    open(path, "w").write(yaml.safe_dump(spec))
    assert main(["report", path, "--out", str(out)]) == 0
    assert json.loads((out / "fronts.json").read_text()) == []


def record(trial, seed, rungs, frames_per_block=64):
    return {"trial": trial, "seed": seed, "protocol": {"name": "p"},
            "data": {"kind": "synthetic", "frames_per_block": frames_per_block, "synthetic_generator": {"v": 3}},
            "rungs": [{"level": k, "kind": "trained" if k == 0 else "magnitude", "accepted": ok, "density": d,
                       "accuracy": a, "score": s, "bit_ops": 1e6 * s, "bit_mem": 1e4 * s}
                      for k, (ok, d, a, s) in enumerate(rungs)]}


def test_seeds_are_averaged_per_rung_and_fronts_marked(tmp_path):
    records = [
        record("ours", 0, [(True, 1.0, 0.30, 0.016), (True, 0.5, 0.28, 0.008), (False, 0.2, 0.10, 0.004)]),
        record("ours", 1, [(True, 1.0, 0.34, 0.016), (True, 0.5, 0.30, 0.008)]),
        record("ours", 2, [(True, 1.0, 0.32, 0.016), (True, 0.5, 0.29, 0.008)]),
        record("big", 0, [(True, 1.0, 0.40, 0.080), (True, 0.5, 0.20, 0.010)]),
    ]
    rows = {(r["recipe"], r["level"]): r for r in aggregate(records)}
    assert set(rows) == {("ours", 0), ("ours", 1), ("big", 0), ("big", 1)}  # the undone rung is no point
    o0 = rows[("ours", 0)]
    assert o0["seeds"] == [0, 1, 2] and o0["accuracy"]["mean"] == pytest.approx(0.32)
    assert o0["accuracy"]["sd"] == pytest.approx(0.02) and (o0["accuracy"]["min"], o0["accuracy"]["max"]) == (0.30, 0.34)
    assert rows[("big", 0)]["accuracy"]["sd"] is None  # one seed: no spread to report
    assert rows[("big", 1)]["recipe_front"] and not rows[("big", 1)]["overall_front"]  # ours' rung 1 beats it
    assert rows[("big", 0)]["overall_front"] and rows[("ours", 0)]["overall_front"] and rows[("ours", 1)]["overall_front"]
    table = format_fronts_table(list(rows.values()))
    assert "| ours | 0 (trained) | 3 | 1.000 | 0.3200 ± 0.0200 | 0.016000 ± 0.000000 |" in table
    assert "synthetic, 64 per block" in table
    plot_fronts(list(rows.values()), records, tmp_path / "fronts.png", "t")
    assert (tmp_path / "fronts.png").stat().st_size > 0

    # other data are never averaged in: that recipe's records get their own (suffixed) front
    mixed = aggregate(records + [record("ours", 3, [(True, 1.0, 0.9, 0.016)], frames_per_block=128)])
    assert len({r["recipe"] for r in mixed}) == 3


def test_spec_errors_for_seeds_and_protocol(tmp_path, toy_h5):
    from model.config import RecipeError

    trials = [{"name": "demo", "recipe": "model/recipes/demo.yaml"}]
    with pytest.raises(RecipeError, match="seeds: expected distinct"):
        load_spec(write_spec(tmp_path, toy_h5, seeds=[0, 0], trials=trials))
    with pytest.raises(RecipeError, match="records need a protocol"):
        load_spec(write_spec(tmp_path, toy_h5, records="x", trials=trials))
    with pytest.raises(RecipeError, match="protocol.name"):
        load_spec(write_spec(tmp_path, toy_h5, protocol={"max_val_drop": 0.02}, trials=trials))


def test_rerun_check_says_identical_or_names_what_differs(tmp_path, capsys):
    import torch

    from model import rerun_check
    env = {"torch": "x", "threads": 1}
    for name, acc, w in (("a", 0.5, 1.0), ("b", 0.5, 1.0), ("c", 0.25, 1.5)):
        run = tmp_path / name
        (run / "checkpoints").mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps({"accuracy": acc, "accuracy_per_snr": {"0": acc},
                                                      "environment": env}))
        (run / "cost.json").write_text(json.dumps({"total_bops": 10, "total_mem_w_bits": 5, "score": 0.1}))
        torch.save({"model": {"w": torch.tensor([w, 2.0])}}, run / "checkpoints" / "final.pt")
    assert rerun_check.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "identical" in capsys.readouterr().out
    assert rerun_check.main([str(tmp_path / "a"), str(tmp_path / "c")]) == 1
    out = capsys.readouterr().out
    assert "test accuracy 0.500000 vs 0.250000" in out and "1 of 1 final tensors differ (max |diff| 0.5)" in out
    assert rerun_check.main([str(tmp_path / "a"), str(tmp_path / "nothing")]) == 2


def test_score_ratio_at_equal_accuracy_interpolates_the_other_front():
    from model.fronts import score_ratios

    records = [record("a", 0, [(True, 1.0, 0.30, 0.004), (True, 0.5, 0.25, 0.002)]),
               record("b", 0, [(True, 1.0, 0.40, 0.040), (True, 0.5, 0.20, 0.010)])]
    rows = aggregate(records)
    ratios = {q["level"]: q for q in score_ratios(rows, "a", "b")}
    # b needs 0.01 * 4 ** 0.5 = 0.02 for 0.30 (halfway in accuracy, log-linear in score), 0.01 * 4 ** 0.25 for 0.25
    assert ratios[0]["other_score"] == pytest.approx(0.02) and ratios[0]["ratio"] == pytest.approx(0.2)
    assert ratios[1]["ratio"] == pytest.approx(0.002 / (0.01 * 4 ** 0.25))
    assert all(q["ratio"] is None for q in score_ratios(rows, "b", "a") if q["accuracy"] > 0.30)
    assert "`a` against `b` at equal accuracy" in format_fronts_table(rows)


def test_a_record_from_another_synthetic_generator_is_not_reused(tmp_path):
    from dataclasses import asdict

    from model.config import Recipe
    from model.sweep import same_generator
    from model.synth.config import DEFAULT_CONFIG

    recipe = Recipe()
    recipe.data.path = str(tmp_path / "not-yet-written.h5")  # a fresh checkout: today's generator will write it
    today = json.loads(json.dumps(asdict(DEFAULT_CONFIG)))
    assert same_generator(today, recipe)
    field = next(k for k, v in today.items() if isinstance(v, float))
    assert not same_generator({**today, field: today[field] + 1.0}, recipe)
    assert not same_generator(None, recipe)  # a record on real data is no point of a synthetic run

"""A run's compression ladder: test accuracy and challenge cost of every compression step's model.

One training run passes through several compression levels (the trained network, then each pruning
step); scoring each of them makes one run a front of (score, accuracy) points instead of one point, so
recipes can be compared at equal accuracy or equal score. Rungs are read from what the
compress step left on disk (compress.json, each step's checkpoints), never retrained:

    rung 0     checkpoints/best.pt, the trained network before compression
    rung k     compress/<NN_kind>/step_<MM>/accepted.pt, or best.pt for a step the floor undid
               (`accepted: false`: the recipe's own output stops before it)

    python -m model.ladder runs/<name>      # writes runs/<name>/ladder.json (+ ladder/rung_<k>.onnx)

Accuracy is on the run's test split (the data it came from is recorded); cost is model/cost.py on each
rung's QONNX export, exact on any data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from amc_cli import command
from amc_cli.inputs import read_json

LADDER_FORMAT = "amc-fpga-ladder/1"


def rung_checkpoints(root: Path) -> list[dict]:
    """The rungs of a run folder, in order, each with its checkpoint and what compress.json says of it."""
    from model.pipeline import RunFolder

    run = RunFolder(root)
    if not run.best.exists():
        raise FileNotFoundError(f"{root}: no checkpoints/best.pt; train the run before reading its ladder")
    summary = read_json(run.compress_summary) if run.compress_summary.exists() else {"steps": []}
    steps = summary["steps"]
    start_val = None
    if steps:
        start = run.compress / f"01_{steps[0]['kind']}" / "start.json"
        start_val = read_json(start)["val_acc"] if start.exists() else None
    rungs = [{"level": 0, "stage": 0, "step": 0, "kind": "trained", "accepted": True, "val_acc": start_val,
              "checkpoint": run.best}]
    for n, s in enumerate(steps, start=1):
        step_dir = run.compress / f"{s['stage']:02d}_{s['kind']}" / f"step_{s['step']:02d}"
        ckpt = step_dir / ("accepted.pt" if s["accepted"] else "best.pt")
        if not ckpt.exists():  # an undone step without fine-tuning keeps no model
            continue
        rungs.append({"level": n, "stage": s["stage"], "step": s["step"], "kind": s["kind"],
                      "accepted": s["accepted"], "val_acc": s["val_acc"], "floor": s.get("floor"),
                      "density": s.get("density"), "checkpoint": ckpt})
    return rungs


def score_rung(ctx, rung: dict, onnx_path: Path) -> dict:
    """Test accuracy (overall, 0 dB, >= 10 dB) and cost of one rung's model."""
    from model.compress.pruning import sparsity_report
    from model.cost import inference_cost_report
    from model.export import export_qonnx_model
    from model.metrics import compute_metrics, top1
    from model.train import predict, resolve_device
    from model.trained import Model

    data = ctx.data()
    device = resolve_device(ctx.recipe.train.device)
    net = Model.from_checkpoint(rung["checkpoint"]).build(permanent=True).eval()
    logits = predict(net.to(device), data.cache, data.test, ctx.recipe.train.batch_size, device)
    m = compute_metrics(top1(logits), data.cache.labels[data.test], data.cache.snr_db[data.test])
    export_qonnx_model(net.cpu(), onnx_path)
    cost = inference_cost_report(onnx_path)
    return {
        **{k: v for k, v in rung.items() if k != "checkpoint"},
        "density": sparsity_report(net)["density"],
        "accuracy": m["accuracy"], "accuracy_0db": m["accuracy_per_snr"].get("0"),
        "accuracy_high_snr": m["accuracy_high_snr"],
        "bit_ops": cost.total_bops, "bit_mem": cost.total_mem_w_bits, "score": cost.score,
    }


def write_ladder(root: Path, recipe=None, progress: bool = False) -> dict:
    """Score every rung of the run folder `root` (once: a ladder.json with the same rungs is reused)."""
    from model.config import load_recipe
    from model.pipeline import RunContext, RunFolder
    from model.train import configure_threads, run_environment

    run = RunFolder(Path(root))
    path = run.root / "ladder.json"
    rungs = rung_checkpoints(run.root)
    if path.exists():
        old = read_json(path)
        if [(r["level"], r["kind"], r["accepted"]) for r in old["rungs"]] == \
                [(r["level"], r["kind"], r["accepted"]) for r in rungs]:
            return old
    recipe = recipe or load_recipe(run.recipe)
    configure_threads(recipe.train)  # the run's thread count: its sums, and so its figures, depend on it
    ctx = RunContext(recipe=recipe, run=run, progress=False)
    (run.root / "ladder").mkdir(exist_ok=True)
    scored = []
    for rung in rungs:
        scored.append(score_rung(ctx, rung, run.root / "ladder" / f"rung_{rung['level']:02d}.onnx"))
        if progress:
            r = scored[-1]
            print(f"[ladder] rung {r['level']} ({r['kind']}, density {r['density']:.3f}): test accuracy "
                  f"{r['accuracy']:.4f}, score {r['score']:.6f}", flush=True)
    ladder = {"format": LADDER_FORMAT, "data": ctx.data().describe(), "environment": run_environment(),
              "rungs": scored}
    path.write_text(json.dumps(ladder, indent=2) + "\n")
    return ladder


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Score every compression step's model of a run folder.")
    ap.add_argument("run", help="a trained run folder (runs/<name>)")
    args = ap.parse_args(argv)
    ladder = write_ladder(Path(args.run), progress=True)
    print(f"{len(ladder['rungs'])} rung(s) in {Path(args.run) / 'ladder.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

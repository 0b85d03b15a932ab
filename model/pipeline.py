"""A training run as a list of named steps, each leaving its artefact in the run folder.

    data -> train -> compress -> evaluate -> export -> cost

`python -m model.pipeline model/recipes/demo.yaml --run runs/demo` runs them all; `--from`/`--to` run a
slice (each step reads only what earlier steps left on disk), and an interrupted `train` resumes from
checkpoints/last.pt when the same command is run again. `--restart` empties the run folder first, and
only a run folder: one holding this tool's recipe.yaml and nothing but run artefacts.

Exit status: 0 done, 2 a bad recipe, run folder or data file, or a failed step (one line on stderr),
130 interrupted (the finished epochs are kept).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from amc_cli import CommandError, Interrupted, RefusedInput, command
from amc_cli.layer import describe_os_error
from model.config import Recipe, RecipeError, load_recipe, save_recipe


@dataclass
class RunFolder:
    """Where each artefact of a run lives (names documented in docs/artefacts.md, "Run folder")."""

    root: Path

    @property
    def recipe(self) -> Path: return self.root / "recipe.yaml"
    @property
    def checkpoints(self) -> Path: return self.root / "checkpoints"
    @property
    def last(self) -> Path: return self.checkpoints / "last.pt"
    @property
    def best(self) -> Path: return self.checkpoints / "best.pt"
    @property
    def final(self) -> Path: return self.checkpoints / "final.pt"
    @property
    def compress(self) -> Path: return self.root / "compress"
    @property
    def compress_summary(self) -> Path: return self.root / "compress.json"
    @property
    def data(self) -> Path: return self.root / "data.json"
    @property
    def history(self) -> Path: return self.root / "history.json"
    @property
    def metrics(self) -> Path: return self.root / "metrics.json"
    @property
    def predictions(self) -> Path: return self.root / "predictions.npz"
    @property
    def plots(self) -> Path: return self.root / "plots"
    @property
    def onnx(self) -> Path: return self.root / "model.onnx"
    @property
    def io(self) -> Path: return self.root / "io.json"
    @property
    def export(self) -> Path: return self.root / "export.json"
    @property
    def cost(self) -> Path: return self.root / "cost.json"


@dataclass
class RunContext:
    recipe: Recipe
    run: RunFolder
    progress: bool = True
    _data: object = field(default=None, repr=False)

    def net(self):
        """A freshly initialised network; seeded, so a recipe always starts from the same weights."""
        import torch

        from model.nets import build_net

        torch.manual_seed(self.recipe.train.seed)
        return build_net(self.recipe.net.name, **self.recipe.net.args)

    def data(self):
        """Cached frames and split indices, prepared once per process."""
        if self._data is None:
            from model.data import prepare_data
            from model.quant import input_quant_spec

            self._data = prepare_data(self.recipe.data, input_quant_spec(self.net()), seed=self.recipe.train.seed,
                                      progress=self.progress)
        return self._data

    def trained_net(self):
        """The run's final network (after compression, if any), masks folded in, eval mode."""
        from model.trained import load_trained

        return load_trained(self.run.final)

    @property
    def main(self) -> bool:
        """Rank 0 writes the run folder; under torchrun the other ranks only compute."""
        from model import distributed

        return distributed.is_main()

    def say(self, msg: str) -> None:
        if self.progress:
            print(msg, flush=True)


def step_data(ctx: RunContext) -> None:
    from model.data import write_data_json

    data = ctx.data()
    write_data_json(data, ctx.run.data)
    d = data.describe()
    ctx.say(f"[data] {d['kind']} file {d['path']}: {d['n_train']} train / {d['n_val']} val / {d['n_test']} test "
            f"frames, {d['frames_per_block']} per (class, SNR) block, cache {d['cache_encoding']}")


def step_train(ctx: RunContext) -> None:
    from model.compress.objectives import make_objective
    from model.train import fit
    from model.trained import load_trained

    data = ctx.data()
    cfg = ctx.recipe.train
    if len(data.train) < 2 or len(data.val) == 0:
        raise RecipeError(
            f"{data.path}: data.val_fraction {ctx.recipe.data.val_fraction} and data.train_min_snr_db "
            f"{ctx.recipe.data.train_min_snr_db} leave {len(data.train)} training and {len(data.val)} validation "
            "frames; training needs both (a file with more frames per block, or other values)"
        )
    teacher = load_trained(cfg.distill.teacher) if cfg.distill.teacher else None
    objective = make_objective(cfg.aux_loss_weights, teacher, cfg.distill.alpha, cfg.distill.temperature)
    meta = {"net": {"name": ctx.recipe.net.name, "args": ctx.recipe.net.args}, "recipe": ctx.recipe.to_dict()}
    t0 = time.time()
    result = fit(ctx.net(), data.train, data.val, data.cache, cfg, ctx.run.checkpoints, meta,
                 objective=objective, progress=ctx.progress)
    if ctx.main:
        ctx.run.history.write_text(json.dumps(result.history, indent=2) + "\n")
    ctx.say(f"[train] best validation accuracy {result.best_val_acc:.4f} at epoch {result.best_epoch} "
            f"({time.time() - t0:.0f} s this session)")


def step_compress(ctx: RunContext) -> None:
    """Run the recipe's compression stages from the best trained epoch; write checkpoints/final.pt."""
    from model.compress.pruning import sparsity_report
    from model.compress.stages import run_stages
    from model.trained import Model

    start = Model.from_checkpoint(ctx.run.best)
    if not ctx.recipe.compress.stages:
        if ctx.main:
            start.save(ctx.run.final)
        return
    final, steps = run_stages(start, ctx.recipe.compress, ctx.recipe.train, ctx.data(), ctx.run.compress,
                              progress=ctx.progress, recipe=ctx.recipe.to_dict())
    if not ctx.main:
        return
    final.save(ctx.run.final)
    report = {"steps": steps, "final_net": final.net, "sparsity": sparsity_report(final.build(permanent=True))}
    ctx.run.compress_summary.write_text(json.dumps(report, indent=2) + "\n")
    ctx.say(f"[compress] {len(steps)} step(s); final density {report['sparsity']['density']:.3f}, "
            f"net {final.net['name']} {final.net['args']}")


def step_evaluate(ctx: RunContext) -> None:
    from model.metrics import compute_metrics, summary_line, top1
    from model.plots import write_metric_plots
    from model.train import predict, resolve_device

    data = ctx.data()
    device = resolve_device(ctx.recipe.train.device)
    logits = predict(ctx.trained_net().to(device), data.cache, data.test, ctx.recipe.train.batch_size, device,
                     progress=ctx.progress, desc="test split")
    labels, snr = data.cache.labels[data.test], data.cache.snr_db[data.test]
    predicted = top1(logits)
    metrics = compute_metrics(predicted, labels, snr)
    # Frame by frame, so the deployed accelerator can be compared with the software model on the same frames.
    np.savez_compressed(ctx.run.predictions, index=data.test, label=labels, snr_db=snr,
                        predicted=predicted.astype(np.uint8), logits=logits.astype(np.float32))
    metrics["data"] = data.describe()
    metrics["checkpoint"] = str(ctx.run.final)
    from model.train import run_environment

    metrics["environment"] = run_environment()  # what exact reruns depend on (model/train.py)
    ctx.run.metrics.write_text(json.dumps(metrics, indent=2) + "\n")
    write_metric_plots(metrics, ctx.run.plots, f"{ctx.recipe.name} ({data.kind} data)")
    ctx.say(f"[evaluate] {summary_line(metrics, data.kind)}; plots in {ctx.run.plots}")


def verification_frames(data, n: int) -> np.ndarray:
    """`n` test frames spread evenly over the (class, SNR)-ordered test split."""
    pick = data.test[np.linspace(0, len(data.test) - 1, num=min(n, len(data.test))).astype(int)]
    return data.cache.frames(np.sort(pick))


def step_export(ctx: RunContext) -> None:
    from model.export import export_qonnx_model, io_description, verify_export, write_io_json

    data = ctx.data()
    net = ctx.trained_net()
    export_qonnx_model(net, ctx.run.onnx)  # masks are permanent: pruned weights export as zeros
    report = verify_export(net, ctx.run.onnx, verification_frames(data, ctx.recipe.export.verify_frames))
    ctx.run.export.write_text(json.dumps({"verification": report}, indent=2) + "\n")
    write_io_json(io_description(ctx.run.onnx, ctx.recipe.net.name, data.describe()), ctx.run.io)
    notes = [f"max |diff| {report['max_abs_diff']:.2g}"]
    if report["top1_near_ties"]:
        notes.append(f"{report['top1_near_ties']} top-1 near-ties broken the other way")
    if report["rounding_boundary_frames"]:
        notes.append(f"{report['rounding_boundary_frames']} rounding-boundary frames")
    ctx.say(f"[export] {ctx.run.onnx}: qonnx matches PyTorch on {report['frames']} frames "
            f"({'; '.join(notes)}); I/O description in {ctx.run.io}")


def step_cost(ctx: RunContext) -> None:
    from model.cost import format_report, inference_cost_report, write_cost_json

    rep = inference_cost_report(ctx.run.onnx)
    write_cost_json(rep, ctx.run.cost)
    ctx.say(format_report(rep))


STEPS: list[tuple[str, Callable[[RunContext], None]]] = [
    ("data", step_data),
    ("train", step_train),
    ("compress", step_compress),
    ("evaluate", step_evaluate),
    ("export", step_export),
    ("cost", step_cost),
]
STEP_NAMES = [name for name, _ in STEPS]


# What a run folder may hold: the artefacts above, their temporary names, and the per-board hardware
# folders a sweep's compile hook writes (hw/) and the compression ladder (model/ladder.py). Anything else
# is the user's and is never deleted.
RUN_ENTRIES = {"recipe.yaml", "checkpoints", "compress", "compress.json", "data.json", "history.json",
               "metrics.json", "predictions.npz", "plots", "model.onnx", "io.json", "export.json", "cost.json",
               "hw", "ladder", "ladder.json"}


def foreign_entries(root: Path) -> list[str]:
    """Entries of `root` that no run writes."""
    return sorted(p.name for p in root.iterdir()
                  if p.name not in RUN_ENTRIES and not p.name.endswith((".tmp", ".partial")))


def check_run_root(run: RunFolder) -> None:
    """`--run` must name a run folder, or a folder this run may create or fill: never a file, and never a
    folder of other files (`--run .` would scatter artefacts over the repository)."""
    root = run.root
    if root.exists() and not root.is_dir():
        raise RecipeError(f"--run {root}: is a file, not a folder; name a run folder, e.g. runs/<name>")
    if root.is_dir() and not run.recipe.is_file():
        other = foreign_entries(root)
        if other:
            raise RecipeError(
                f"--run {root}: this folder is not a run folder (no recipe.yaml) and holds other files "
                f"({', '.join(other[:5])}{', ...' if len(other) > 5 else ''}); name a new or empty folder, "
                "e.g. runs/<name>"
            )


def restart_run_folder(run: RunFolder) -> None:
    """Delete the artefacts of a run folder (what --restart does); refuse anything that is not one."""
    root = run.root
    if not root.exists() and not root.is_symlink():
        return
    if root.is_symlink() or not root.is_dir():
        raise RecipeError(f"--restart: {root} is not a run folder (a {'link' if root.is_symlink() else 'file'}); "
                          "nothing was deleted")
    if not run.recipe.is_file() and any(root.iterdir()):
        raise RecipeError(f"--restart: {root} is not a run folder (it has no recipe.yaml); nothing was deleted. "
                          "--restart only empties a folder this tool wrote.")
    other = foreign_entries(root)
    if other:
        raise RecipeError(
            f"--restart: {root} holds files that are not run artefacts ({', '.join(other[:5])}"
            f"{', ...' if len(other) > 5 else ''}); nothing was deleted. Move them away or pick a new --run folder."
        )
    import shutil

    for p in root.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def check_run_folder(run: RunFolder, recipe: Recipe) -> None:
    """A run folder belongs to one recipe: resuming it with another would mix two experiments."""
    check_run_root(run)
    if not run.recipe.exists():
        return
    from model.config import read_yaml

    old = read_yaml(run.recipe, "run folder's recipe")
    if not isinstance(old, dict):
        raise RecipeError(f"{run.recipe}: not a recipe; this folder is not a run folder of this tool")
    new = recipe.to_dict()
    old.get("train", {}).pop("epochs", None)  # extending a finished run is allowed
    new = {**new, "train": {k: v for k, v in new["train"].items() if k != "epochs"}}
    for d in (old, new):
        d.pop("description", None)  # prose: editing it changes no experiment
    if old != new:
        raise RecipeError(
            f"{run.root} holds a run of a different recipe ({run.recipe}); pick a new --run folder, or pass "
            "--restart to discard that run."
        )


# Steps every torchrun process takes part in; the others run on rank 0 alone.
DATA_PARALLEL_STEPS = ("data", "train", "compress")


def run_pipeline(recipe: Recipe, run_dir: Path, first: str = "data", last: str = "cost", restart: bool = False,
                 progress: bool = True) -> RunFolder:
    from model import distributed

    distributed.init()
    main = distributed.is_main()
    run = RunFolder(Path(run_dir))
    if main:
        if restart:
            restart_run_folder(run)
        check_run_folder(run, recipe)
        run.root.mkdir(parents=True, exist_ok=True)
        save_recipe(recipe, run.recipe)
    ctx = RunContext(recipe=recipe, run=run, progress=progress and main)
    from model.train import configure_threads

    configure_threads(recipe.train)  # one thread count for every step: evaluation's sums depend on it too
    lo, hi = STEP_NAMES.index(first), STEP_NAMES.index(last)
    for name, step in STEPS[lo : hi + 1]:
        if not (main or name in DATA_PARALLEL_STEPS):
            continue
        try:
            if name == "data":  # rank 0 builds the data cache; the others wait, then open it
                if main:
                    step(ctx)
                distributed.barrier()
                ctx.data()
            else:
                step(ctx)
        except (CommandError, OSError) as exc:  # expected: one line naming the step, the cause's status
            raise StepError(name, exc) from exc
        except Exception as exc:  # a bug: the command layer logs its traceback; the line names the step
            exc.add_note(f"in step '{name}'")
            raise
    return run


class StepError(CommandError):
    """A step stopped on an error the project expects; exits with that error's status."""

    def __init__(self, step: str, exc: Exception):
        reason = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
        super().__init__(f"step '{step}' failed: {reason}")
        self.step = step
        self.status = exc.status if isinstance(exc, CommandError) else RefusedInput.status


def parse_overrides(items: list[str]) -> dict:
    """`--set train.epochs=3` -> {"train.epochs": 3} (values parsed as YAML scalars)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise RecipeError(f"--set {item!r}: expected key=value, e.g. train.epochs=3")
        out[key.strip()] = yaml.safe_load(value)
    return out


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train, evaluate, export and cost a recipe into a run folder.")
    ap.add_argument("recipe", help="recipe YAML (model/recipes/*.yaml)")
    ap.add_argument("--run", "--run-dir", dest="run", required=True, help="run folder, e.g. runs/demo (under torchrun, spell it --run-dir)")
    ap.add_argument("--data", help="HDF5 file to use instead of the recipe's (e.g. the real RadioML 2018.01A file)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe value")
    ap.add_argument("--from", dest="first", choices=STEP_NAMES, default="data")
    ap.add_argument("--to", dest="last", choices=STEP_NAMES, default="cost")
    ap.add_argument("--restart", action="store_true",
                    help="delete the run folder's artefacts first (only a run folder: recipe.yaml and run artefacts)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars or step messages")
    args = ap.parse_args(argv)
    overrides = parse_overrides(args.set)
    if args.data:
        overrides["data.path"] = args.data
        overrides["data.synthetic_frames_per_block"] = None
    recipe = load_recipe(args.recipe, overrides)
    try:
        run_pipeline(recipe, Path(args.run), args.first, args.last, args.restart, progress=not args.quiet)
    except KeyboardInterrupt:
        raise Interrupted(f"{args.run} keeps every finished epoch's checkpoint; run the same command again "
                          "to resume") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())

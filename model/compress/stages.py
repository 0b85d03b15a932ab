"""The compression schedule of a recipe: stages of (operation, fine-tune) steps, resumable.

Each step leaves a folder `compress/<NN_kind>/step_<MM>/` holding its fine-tuning checkpoints and a
`done.json` verdict; a rerun skips finished steps and resumes the one that was interrupted (operations
are deterministic given the weights they start from, so re-applying one gives the same masks or widths).

A step is accepted only if the fine-tuned validation accuracy stays at or above the stage's floor;
otherwise it is undone and the stage ends there, as the seed's iterative pruning did.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from amc_cli.inputs import read_json
from amc_cli.outputs import write_text
from model import distributed
from model.compress.bits import with_net_args
from model.compress.channels import prune_channels
from model.compress.objectives import make_objective
from model.compress.pruning import (
    ensure_masks,
    global_magnitude_prune,
    make_pruning_permanent,
    sparsity_report,
    threshold_prune,
)
from model.config import CompressConfig, StageConfig, TrainConfig
from model.train import fit, load_checkpoint, predict, resolve_device
from model.trained import Model

KINDS = ("magnitude", "threshold", "channels", "bits")


def n_steps(stage: StageConfig) -> int:
    if stage.kind not in KINDS:
        raise ValueError(f"compress stage kind {stage.kind!r} unknown; choose one of {KINDS}")
    if stage.kind == "threshold":
        if not stage.eps:
            raise ValueError("a threshold stage needs eps: [values], one pruning round each")
        return len(stage.eps)
    return 1 if stage.kind == "bits" else stage.max_steps


def apply_step(model: Model, stage: StageConfig, step: int) -> tuple[Model, nn.Module, dict]:
    """Apply step `step` of `stage` to `model`; returns the new model description, its net and a log."""
    if stage.kind == "bits":
        model = with_net_args(model, stage.net_args)
    net = model.build(permanent=False)
    if stage.kind == "magnitude":
        log = {"pruned": global_magnitude_prune(net, stage.fraction, stage.exclude)}
    elif stage.kind == "threshold":
        log = {"pruned": threshold_prune(net, stage.eps[step], stage.exclude), "eps": stage.eps[step]}
    elif stage.kind == "channels":
        make_pruning_permanent(net)  # torch-pruning works on plain weights; zeros already made stay zeros
        log = {"widths": prune_channels(net, stage.fraction, stage.exclude)}
        ensure_masks(net)
        with torch.no_grad():  # keep existing zeros pruned through fine-tuning
            for m in net.modules():
                if hasattr(m, "weight_mask"):
                    m.weight_mask.copy_((m.weight_orig != 0).to(m.weight_mask.dtype))
    else:
        log = {"net_args": stage.net_args}
    return Model(net=model.net, state={k: v.detach().clone() for k, v in net.state_dict().items()}), net, log


def val_accuracy(net: nn.Module, data, batch_size: int, device: torch.device) -> float:
    logits = predict(net.to(device), data.cache, data.val, batch_size, device)
    return float((logits.argmax(1) == np.asarray(data.cache.labels)[data.val]).mean())


def finetune_config(train: TrainConfig, stage: StageConfig) -> TrainConfig:
    ft = stage.finetune
    return replace(train, epochs=ft.epochs, lr=ft.lr if ft.lr is not None else train.lr / 10,
                   scheduler=ft.scheduler)


def run_stages(start: Model, cfg: CompressConfig, train: TrainConfig, data, out_dir: Path, progress: bool = True,
               recipe: dict | None = None) -> tuple[Model, list[dict]]:
    """Run every stage of `cfg` from `start`; returns the final model and one summary row per step."""
    device = distributed.device_for(resolve_device(train.device))
    model, summary = start, []
    for i, stage in enumerate(cfg.stages):
        stage_dir = out_dir / f"{i + 1:02d}_{stage.kind}"
        stage_dir.mkdir(parents=True, exist_ok=True)
        entry = model.build(permanent=True)
        start_acc = _cached_start_accuracy(stage_dir, entry, data, train.batch_size, device)
        floors = [f for f in (stage.min_val_acc,
                              None if stage.max_val_drop is None else start_acc - stage.max_val_drop) if f is not None]
        floor = max(floors) if floors else None
        teacher = copy.deepcopy(entry) if stage.distill else None
        aux = cfg.aux_loss_weights if cfg.aux_loss_weights is not None else train.aux_loss_weights
        objective = make_objective(aux, teacher, cfg.alpha, cfg.temperature)
        for step in range(n_steps(stage)):
            step_dir = stage_dir / f"step_{step + 1:02d}"
            done = step_dir / "done.json"
            if done.exists():
                verdict = read_json(done)
                summary.append(verdict)
                if not verdict["accepted"]:
                    break
                model = Model.from_checkpoint(step_dir / "accepted.pt")
                continue
            step_dir.mkdir(parents=True, exist_ok=True)
            candidate, net, log = apply_step(model, stage, step)
            if stage.finetune.epochs > 0:
                meta = {"net": candidate.net, "recipe": recipe or {}}
                result = fit(net, data.train, data.val, data.cache, finetune_config(train, stage), step_dir, meta,
                             objective=objective, progress=progress)
                best = load_checkpoint(step_dir / "best.pt")
                tuned, val_acc = Model(net=best["net"], state=best["model"]), result.best_val_acc
            else:  # post-training change (e.g. lower bits without retraining): judge it as it is
                tuned = candidate
                val_acc = val_accuracy(tuned.build(permanent=True), data, train.batch_size, device)
            accepted = floor is None or val_acc >= floor
            verdict = {"stage": i + 1, "kind": stage.kind, "step": step + 1, **log, "val_acc": val_acc,
                       "start_val_acc": start_acc, "floor": floor, "accepted": accepted,
                       "density": sparsity_report(tuned.build(permanent=True))["density"]}
            if accepted:
                model = tuned
            if distributed.is_main():
                if accepted:
                    model.save(step_dir / "accepted.pt")
                write_text(done, json.dumps(verdict, indent=2) + "\n")  # renamed into place: other ranks read it
            distributed.barrier()
            summary.append(verdict)
            if progress:
                print(f"[compress] stage {i + 1} {stage.kind} step {step + 1}: val acc {val_acc:.4f} "
                      f"(floor {floor if floor is None else round(floor, 4)}), density {verdict['density']:.3f} "
                      f"-> {'accepted' if accepted else 'undone, stage ends'}", flush=True)
            if not accepted:
                break
    return model, summary


def _cached_start_accuracy(stage_dir: Path, net: nn.Module, data, batch_size: int, device) -> float:
    path = stage_dir / "start.json"
    if path.exists():
        return read_json(path)["val_acc"]
    acc = val_accuracy(net, data, batch_size, device)  # the same on every rank: same weights and buffers
    if distributed.is_main():
        write_text(path, json.dumps({"val_acc": acc}) + "\n")
    return acc

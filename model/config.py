"""Recipes: one YAML file per training recipe, read into typed dataclasses.

Unknown keys are errors (a typo in a recipe must not silently fall back to a default). The loader is a
few lines of dataclass introspection rather than a dependency: recipes are small and flat.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class DataConfig:
    # HDF5 file in the RadioML 2018 schema. If it is missing and `synthetic_frames_per_block` is set,
    # the synthetic stand-in is generated there first.
    path: str = "data/synthetic-demo.h5"
    synthetic_frames_per_block: int | None = 64
    synthetic_seed: int = 0
    cache_dir: str = "data/cache"
    # int8 is lossless for an 8-bit input quantizer over [-2, 2); "auto" picks it exactly then,
    # float32 otherwise.
    cache_encoding: str = "auto"
    train_min_snr_db: float | None = None  # training-only filter; the test set is never filtered
    val_fraction: float = 0.05  # held out of the training split to choose the best epoch


@dataclass
class NetConfig:
    name: str = "compact"
    args: dict = field(default_factory=dict)


@dataclass
class DistillConfig:
    teacher: str | None = None  # run folder or checkpoint of a trained (larger) model
    alpha: float = 0.5  # weight of the soft-target term
    temperature: float = 4.0


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 1024
    optimizer: str = "adam"  # adam | sgd
    lr: float = 0.01
    weight_decay: float = 0.0
    scheduler: str = "cosine_warm_restarts"  # cosine_warm_restarts | cosine | constant
    t0: int = 5  # restart period (epochs) of cosine_warm_restarts
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int | None = None  # torch CPU threads; None keeps torch's default
    max_frames_per_epoch: int | None = None  # subsample the training split each epoch (quick runs)
    aux_loss_weights: list = field(default_factory=list)  # one per auxiliary head (missing ones weigh 1)
    distill: DistillConfig = field(default_factory=DistillConfig)


@dataclass
class FinetuneConfig:
    epochs: int = 2
    lr: float | None = None  # default: a tenth of train.lr
    scheduler: str = "cosine"


@dataclass
class StageConfig:
    """One compression stage: an operation applied in steps, each followed by fine-tuning.

    magnitude  global L1 unstructured pruning of `fraction` of the remaining weights, `max_steps` times
    threshold  zero |w| < eps, one step per value in `eps`
    channels   remove `fraction` of each layer's output channels (L1 ranked), `max_steps` times
    bits       rebuild the network with `net_args` (e.g. {w_bits: 5}), one step
    A step whose fine-tuned validation accuracy falls below the floor (`min_val_acc`, or the stage's
    starting accuracy minus `max_val_drop`) is undone and ends the stage.
    """

    kind: str = "magnitude"
    fraction: float = 0.15
    max_steps: int = 1
    eps: list = field(default_factory=list)
    net_args: dict = field(default_factory=dict)
    exclude: list = field(default_factory=list)  # layer names never pruned
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    distill: bool = True  # distil from the model as it entered the stage
    min_val_acc: float | None = None
    max_val_drop: float | None = None


@dataclass
class CompressConfig:
    stages: list = field(default_factory=list)  # of StageConfig
    alpha: float = 0.5  # distillation weight while fine-tuning
    temperature: float = 4.0


@dataclass
class ExportConfig:
    verify_frames: int = 16  # frames executed by qonnx and compared with PyTorch after export


@dataclass
class Recipe:
    name: str = "unnamed"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    net: NetConfig = field(default_factory=NetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    compress: CompressConfig = field(default_factory=CompressConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Lists whose items are themselves dataclasses (kept explicit: typing introspection of list[...] fields
# is more machinery than these few entries need).
LIST_OF = {(CompressConfig, "stages"): StageConfig}


class RecipeError(ValueError):
    """A recipe that does not fit the schema; the message names the key."""


def from_dict(cls, data: dict, where: str = ""):
    """Build dataclass `cls` from `data`, recursing into nested dataclasses; reject unknown keys."""
    if not isinstance(data, dict):
        raise RecipeError(f"{where or 'recipe'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RecipeError(f"{where or 'recipe'}: unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(hint, value or {}, f"{where}{key}.")
        elif (cls, key) in LIST_OF:
            item_cls = LIST_OF[(cls, key)]
            kwargs[key] = [from_dict(item_cls, v, f"{where}{key}[{i}].") for i, v in enumerate(value or [])]
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_recipe(path: str | Path, overrides: dict | None = None) -> Recipe:
    """Read a recipe YAML file; `overrides` maps dotted keys ("train.epochs") to values."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"{path}: no such recipe (see model/recipes/ for the shipped ones)")
    data = yaml.safe_load(path.read_text()) or {}
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    return from_dict(Recipe, data)


def set_dotted(data: dict, dotted: str, value) -> None:
    """data["a"]["b"][0]["c"] = value for "a.b.0.c" (numeric parts index lists)."""
    node = data
    *parents, leaf = dotted.split(".")
    for p in parents:
        if isinstance(node, list):
            node = node[int(p)]
        else:
            node = node.setdefault(p, {})
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))

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
    export: ExportConfig = field(default_factory=ExportConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return from_dict(Recipe, data)


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))

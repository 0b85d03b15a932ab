"""Recipes: one YAML file per training recipe, read into typed dataclasses.

Unknown keys are errors (a typo in a recipe must not silently fall back to a default), and so are values
of the wrong type or out of range (`train.epochs: 0`, `data.val_fraction: 1.5`): `load_recipe` checks
every value when the recipe is read, and the message names the key. The loader is a few lines of
dataclass introspection rather than a dependency: recipes are small and flat.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from amc_cli import RefusedInput
from amc_cli.inputs import max_threads, physical_memory


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
    aux_loss_weights: list | None = None  # auxiliary-head weights while fine-tuning (None: train's)


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


class RecipeError(RefusedInput):
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
            if value is not None and not isinstance(value, list):
                raise RecipeError(f"{where}{key}: expected a list, got {value!r}")
            kwargs[key] = [from_dict(item_cls, v, f"{where}{key}[{i}].") for i, v in enumerate(value or [])]
        else:
            kwargs[key] = check_type(value, hint, f"{where}{key}")
    return cls(**kwargs)


def _type_name(hint) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args) + " (or null)"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a mapping",
            list: "a list"}.get(typing.get_origin(hint) or hint, str(hint))


def check_type(value, hint, key: str):
    """`value` as the field's type (an int is a valid float, null a valid Optional); else RecipeError."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in (a for a in args if a is not type(None)):
            try:
                return check_type(value, a, key)
            except RecipeError:
                pass
        raise RecipeError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    base = typing.get_origin(hint) or hint
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
        dict: isinstance(value, dict),
        list: isinstance(value, list),
    }.get(base)
    if ok is None:
        return value
    if not ok:
        raise RecipeError(f"{key}: expected {_type_name(hint)}, got {value!r}")
    if base is float:
        if not math.isfinite(value):
            raise RecipeError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    return value


# Allowed values and ranges, checked when a recipe is loaded (the type is checked by from_dict).
CHOICES = {
    "train.optimizer": ("adam", "sgd"),
    "train.scheduler": ("cosine_warm_restarts", "cosine", "constant"),
    "data.cache_encoding": ("auto", "int8", "float16", "float32"),
}
FRAME_BYTES = 2 * 1024 * 4  # one float32 frame of 1024 I/Q samples
STAGE_KINDS = ("magnitude", "threshold", "channels", "bits")
FINETUNE_SCHEDULERS = ("cosine_warm_restarts", "cosine", "constant")


def validate_recipe(r: "Recipe") -> None:
    """Ranges and choices of every value; RecipeError naming the first key that is out of range."""
    def need(key: str, value, ok: bool, what: str):
        if value is not None and not ok:
            raise RecipeError(f"{key}: {what}, got {value!r}")

    for key, choices in CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(r, section), name)
        need(key, value, value in choices, f"expected one of {', '.join(choices)}")
    d, t = r.data, r.train
    need("data.path", d.path, bool(d.path.strip()), "expected a file name")
    need("data.synthetic_frames_per_block", d.synthetic_frames_per_block, (d.synthetic_frames_per_block or 0) >= 1,
         "expected at least 1 frame per (class, SNR) block, or null")
    need("data.synthetic_seed", d.synthetic_seed, d.synthetic_seed >= 0, "expected a seed >= 0")
    need("data.val_fraction", d.val_fraction, 0.0 < d.val_fraction < 1.0,
         "expected a fraction of the training split strictly between 0 and 1 (e.g. 0.05)")
    need("net.name", r.net.name, bool(r.net.name), "expected a network name")
    need("train.epochs", t.epochs, t.epochs >= 1, "expected at least 1 epoch")
    need("train.batch_size", t.batch_size, t.batch_size >= 2, "expected a batch size of at least 2")
    need("train.lr", t.lr, t.lr > 0, "expected a learning rate > 0")
    need("train.weight_decay", t.weight_decay, t.weight_decay >= 0, "expected a weight decay >= 0")
    need("train.t0", t.t0, t.t0 >= 1, "expected a restart period of at least 1 epoch")
    need("train.seed", t.seed, t.seed >= 0, "expected a seed >= 0")
    need("train.device", t.device, t.device in ("auto", "cpu") or t.device.startswith("cuda"),
         "expected auto, cpu or cuda (cuda:N)")
    need("train.threads", t.threads, 1 <= (t.threads or 0) <= max_threads(),
         f"expected 1 to {max_threads()} threads (4 per CPU of this machine), or null")
    need("train.batch_size", t.batch_size, t.batch_size * FRAME_BYTES <= physical_memory() / 8 or not physical_memory(),
         "expected a batch whose frames alone fit in an eighth of this machine's memory")
    need("train.max_frames_per_epoch", t.max_frames_per_epoch, (t.max_frames_per_epoch or 0) >= 2,
         "expected at least 2 frames, or null")
    for i, w in enumerate(t.aux_loss_weights):
        check_type(w, float, f"train.aux_loss_weights[{i}]")
    need("train.distill.alpha", t.distill.alpha, 0.0 <= t.distill.alpha <= 1.0, "expected a weight in [0, 1]")
    need("train.distill.temperature", t.distill.temperature, t.distill.temperature > 0, "expected a temperature > 0")
    c = r.compress
    need("compress.alpha", c.alpha, 0.0 <= c.alpha <= 1.0, "expected a weight in [0, 1]")
    need("compress.temperature", c.temperature, c.temperature > 0, "expected a temperature > 0")
    for i, s in enumerate(c.stages):
        at = f"compress.stages[{i}]."
        need(at + "kind", s.kind, s.kind in STAGE_KINDS, f"expected one of {', '.join(STAGE_KINDS)}")
        need(at + "fraction", s.fraction, 0.0 < s.fraction < 1.0, "expected a fraction strictly between 0 and 1")
        need(at + "max_steps", s.max_steps, s.max_steps >= 1, "expected at least 1 step")
        for j, e in enumerate(s.eps):
            need(f"{at}eps[{j}]", e, check_type(e, float, f"{at}eps[{j}]") > 0, "expected a threshold > 0")
        if s.kind == "threshold" and not s.eps:
            raise RecipeError(f"{at}eps: a threshold stage needs a list of thresholds, one pruning round each")
        need(at + "finetune.epochs", s.finetune.epochs, s.finetune.epochs >= 0, "expected 0 or more epochs")
        need(at + "finetune.lr", s.finetune.lr, (s.finetune.lr or 0) > 0, "expected a learning rate > 0, or null")
        need(at + "finetune.scheduler", s.finetune.scheduler, s.finetune.scheduler in FINETUNE_SCHEDULERS,
             f"expected one of {', '.join(FINETUNE_SCHEDULERS)}")
        need(at + "min_val_acc", s.min_val_acc, 0.0 <= (s.min_val_acc or 0) <= 1.0, "expected an accuracy in [0, 1]")
        need(at + "max_val_drop", s.max_val_drop, 0.0 <= (s.max_val_drop or 0) <= 1.0, "expected a drop in [0, 1]")
    need("export.verify_frames", r.export.verify_frames, r.export.verify_frames >= 1, "expected at least 1 frame")


def load_recipe(path: str | Path, overrides: dict | None = None) -> Recipe:
    """Read a recipe YAML file; `overrides` maps dotted keys ("train.epochs") to values."""
    path = Path(path)
    if not path.is_file():
        what = "a folder, not a recipe file" if path.is_dir() else "no such recipe"
        raise RecipeError(f"{path}: {what} (see model/recipes/ for the shipped ones)")
    data = read_yaml(path, "recipe")
    if data == {}:  # an empty file would run every default: refuse it instead
        raise RecipeError(f"{path}: an empty recipe; start from one in model/recipes/ (e.g. demo.yaml)")
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of sections (data, net, train, ...), "
                          f"not a {type(data).__name__}")
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    recipe = from_dict(Recipe, data)
    validate_recipe(recipe)
    return recipe


def read_yaml(path: Path, what: str = "file"):
    """YAML file -> data; a syntax error or an unreadable file becomes one RecipeError line."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read this {what} ({exc.__class__.__name__}: {exc})") from exc
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"{path}: YAML syntax error{where}: {problem}") from exc


def set_dotted(data: dict, dotted: str, value) -> None:
    """data["a"]["b"][0]["c"] = value for "a.b.0.c" (numeric parts index lists)."""
    parts = dotted.split(".")
    if not all(parts):
        raise RecipeError(f"--set {dotted}: empty key part; spell it like train.epochs=3")
    node = data
    for depth, p in enumerate(parts):
        here = ".".join(parts[:depth]) or "the recipe"
        if isinstance(node, list):
            if not p.lstrip("-").isdigit() or not -len(node) <= int(p) < len(node):
                raise RecipeError(f"--set {dotted}: {here} is a list of {len(node)} item(s); "
                                  f"{p!r} is not an index of it")
        elif not isinstance(node, dict):
            raise RecipeError(f"--set {dotted}: {here} is {node!r}, not a mapping; it has no key {p!r}")
        if depth == len(parts) - 1:
            break
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    leaf = parts[-1]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))

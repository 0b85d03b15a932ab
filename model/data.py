"""From a recipe's data section to cached frames and the official train/validation/test indices."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from model.cache import INT8_SCALE, FrameCache, open_cache
from model.config import DataConfig
from model.radioml import REAL_FRAMES_PER_BLOCK, validate_file
from model.split import filter_by_snr, official_split

SYNTHETIC_ATTR = "synthetic"  # HDF5 root attribute model/synth writes; real files have none


@dataclass
class PreparedData:
    cache: FrameCache
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str  # "synthetic" | "radioml2018" | "radioml-schema"
    path: Path
    generator: dict | None = None  # a synthetic file's SynthConfig: which generator its accuracies come from

    def describe(self) -> dict:
        """What every metrics file records about the data it came from."""
        return {
            "kind": self.kind,
            "path": str(self.path),
            "frames_per_block": self.cache.frames_per_block,
            "cache_encoding": self.cache.encoding,
            "n_train": int(len(self.train)),
            "n_val": int(len(self.val)),
            "n_test": int(len(self.test)),
            **({"synthetic_generator": self.generator} if self.generator else {}),
        }


def data_kind(path: Path) -> str:
    import h5py

    with h5py.File(path, "r") as f:
        if SYNTHETIC_ATTR in f.attrs:
            return "synthetic"
    fpb = validate_file(path).frames_per_block
    return "radioml2018" if fpb == REAL_FRAMES_PER_BLOCK else "radioml-schema"


def ensure_data_file(cfg: DataConfig, progress: bool = True) -> Path:
    """The recipe's data file, generating the synthetic stand-in first if it is missing and allowed."""
    path = Path(cfg.path)
    if path.exists():
        validate_file(path)  # a damaged file is named here, before anything else opens it
        warn_if_older_generator(path)
        return path
    if not cfg.synthetic_frames_per_block:
        raise FileNotFoundError(
            f"{path}: data file not found. Point data.path (or --data) at the RadioML 2018.01A file, or set "
            "data.synthetic_frames_per_block to generate the synthetic stand-in there."
        )
    from model.synth import write_synthetic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    write_synthetic_file(path, cfg.synthetic_frames_per_block, seed=cfg.synthetic_seed, progress=progress)
    return path


def synthetic_generator(path: Path) -> dict | None:
    """The generator settings a synthetic file records (None for real files and files without them)."""
    import h5py

    with h5py.File(path, "r") as f:
        text = f.attrs.get("config") if SYNTHETIC_ATTR in f.attrs else None
    return json.loads(text) if text else None


def stale_generator_fields(path: Path) -> list[str]:
    """Generator settings in which a synthetic file differs from today's defaults (empty for real files).

    A file made before a calibration round keeps being reused by recipes that point at it; its accuracies
    are then not comparable with figures measured on the current generator.
    """
    from model.synth import DEFAULT_CONFIG, SynthConfig

    recorded = synthetic_generator(path)
    if recorded is None:
        return []
    try:
        made_with = SynthConfig.from_dict(recorded)
    except (ValueError, TypeError):
        return ["config (unreadable)"]
    return [
        f"{f.name}={getattr(made_with, f.name)} (now {getattr(DEFAULT_CONFIG, f.name)})"
        for f in fields(SynthConfig)
        if getattr(made_with, f.name) != getattr(DEFAULT_CONFIG, f.name)
    ]


def warn_if_older_generator(path: Path) -> None:
    stale = stale_generator_fields(path)
    if stale:
        print(
            f"[data] note: {path} was generated with older synthetic-generator settings: {', '.join(stale)}. "
            "Its accuracies are not comparable with figures made on the current generator; delete the file "
            "to regenerate it.",
            file=sys.stderr,
        )


def choose_encoding(requested: str, input_quant: dict | None) -> str:
    """`auto`: int8 exactly when it is lossless for the model's input quantizer, float32 otherwise."""
    if requested != "auto":
        return requested
    if input_quant and input_quant["bit_width"] == 8 and input_quant["signed"]:
        if math.isclose(input_quant["scale"], INT8_SCALE) and input_quant["zero_point"] == 0:
            return "int8"
    return "float32"


def prepare_data(cfg: DataConfig, input_quant: dict | None, seed: int = 0, progress: bool = True) -> PreparedData:
    path = ensure_data_file(cfg, progress)
    cache = open_cache(path, cfg.cache_dir, choose_encoding(cfg.cache_encoding, input_quant), progress)
    split = official_split(cache.frames_per_block)
    rng = np.random.default_rng(seed)
    train = rng.permutation(split.train)
    n_val = int(round(cfg.val_fraction * len(train)))
    val, train = np.sort(train[:n_val]), np.sort(train[n_val:])
    train = filter_by_snr(train, np.asarray(cache.snr_db), cfg.train_min_snr_db)
    return PreparedData(cache=cache, train=train, val=val, test=np.sort(split.test), kind=data_kind(path),
                        path=path, generator=synthetic_generator(path))


def write_data_json(data: PreparedData, path: Path) -> None:
    path.write_text(json.dumps(data.describe(), indent=2) + "\n")

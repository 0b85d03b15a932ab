"""Typed build configuration and the layout of a build folder (README "Build folder")."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .boards import RESOURCES, Board, load_board
from .iodesc import IODescription, load_io

DEFAULT_BUILD_ROOT = Path("hw/builds")


@dataclass(frozen=True)
class Budget:
    """Fraction of each board resource a folding may use (FINN's own defaults: LUT 0.7, others 0.8)."""

    LUT: float = 0.7
    BRAM_18K: float = 0.8
    URAM: float = 0.8
    DSP: float = 0.8

    @classmethod
    def parse(cls, text: str | None) -> "Budget":
        """'lut=0.7,bram=0.8,uram=0.8,dsp=0.8' (any subset, case-insensitive; bram means BRAM_18K)."""
        if not text:
            return cls()
        aliases = {"lut": "LUT", "bram": "BRAM_18K", "bram_18k": "BRAM_18K", "uram": "URAM", "dsp": "DSP"}
        vals = asdict(cls())
        for part in text.split(","):
            if not part.strip():
                continue
            k, _, v = part.partition("=")
            key = aliases.get(k.strip().lower())
            if key is None or not v:
                raise ValueError(f"bad budget item {part!r}; use e.g. lut=0.7,bram=0.8,uram=0.8,dsp=0.8")
            f = float(v)
            if not 0.0 < f <= 1.0:
                raise ValueError(f"budget fraction for {key} must be in (0, 1], got {f}")
            vals[key] = f
        return cls(**vals)

    def limits(self, board: Board) -> dict[str, float]:
        return {r: getattr(self, r) * board.capacity(r) for r in RESOURCES}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BuildConfig:
    """Everything a build needs. Steps are functions (ModelWrapper, BuildConfig) -> ModelWrapper."""

    model_path: Path
    io: IODescription
    board: Board
    out_dir: Path
    clock_mhz: float
    #: folding: a FINN folding JSON to apply, else a target throughput, else the fastest within budget
    folding_file: Path | None = None
    target_fps: float | None = None
    #: "search" (ours, over FINN's per-layer estimates) or "finn" (FINN's SetFolding heuristic)
    folding_strategy: str = "search"
    budget: Budget = field(default_factory=Budget)
    #: preferred_impl_style per op type for specialize_layers, e.g. {"MVAU": "hls"}
    impl_style: dict[str, str] = field(default_factory=dict)
    standalone_thresholds: bool = True
    mvau_wwidth_max: int = 36
    verify: bool = True
    verify_frames: int = 8
    verify_seed: int = 0
    start_step: str | None = None
    stop_step: str | None = None

    # ---- build folder layout ------------------------------------------------------------
    @property
    def steps_dir(self) -> Path:
        return self.out_dir / "steps"

    @property
    def report_dir(self) -> Path:
        return self.out_dir / "report"

    @property
    def verify_dir(self) -> Path:
        return self.out_dir / "verify"

    @property
    def codegen_dir(self) -> Path:
        return self.out_dir / "codegen"

    @property
    def partition_dir(self) -> Path:
        return self.out_dir / "partition"

    @property
    def parent_path(self) -> Path:
        return self.out_dir / "dataflow_parent.onnx"

    @property
    def folding_path(self) -> Path:
        return self.out_dir / "folding.json"

    @property
    def clock_period_ns(self) -> float:
        return 1000.0 / self.clock_mhz

    def make_dirs(self) -> None:
        for d in (self.out_dir, self.steps_dir, self.report_dir, self.verify_dir, self.codegen_dir,
                  self.partition_dir):
            d.mkdir(parents=True, exist_ok=True)

    def to_dict(self) -> dict:
        return {
            "model_path": str(self.model_path),
            "io": self.io.to_dict(),
            "board": self.board.to_dict(),
            "out_dir": str(self.out_dir),
            "clock_mhz": self.clock_mhz,
            "folding_file": str(self.folding_file) if self.folding_file else None,
            "target_fps": self.target_fps,
            "folding_strategy": self.folding_strategy,
            "budget": self.budget.to_dict(),
            "impl_style": dict(self.impl_style),
            "standalone_thresholds": self.standalone_thresholds,
            "mvau_wwidth_max": self.mvau_wwidth_max,
            "verify": self.verify,
            "verify_frames": self.verify_frames,
            "verify_seed": self.verify_seed,
        }

    def save(self) -> Path:
        p = self.out_dir / "build_config.json"
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p


def resolve_model(model: str | Path) -> tuple[Path, str]:
    """A run folder (runs/<name>/ with model.onnx) or a .onnx file -> (onnx path, model name)."""
    p = Path(model)
    if p.is_dir():
        onnx = p / "model.onnx"
        if not onnx.is_file():
            raise FileNotFoundError(f"{p} is a folder without model.onnx (expected a run folder)")
        return onnx, p.resolve().name
    if p.suffix != ".onnx":
        raise ValueError(f"{p}: expected a run folder or a .onnx file")
    if not p.is_file():
        raise FileNotFoundError(str(p))
    name = p.stem if p.stem != "model" else p.resolve().parent.name
    return p, name


def make_config(
    model: str | Path,
    board: str | Path = "zcu104",
    out_dir: str | Path | None = None,
    clock_mhz: float | None = None,
    **kwargs,
) -> BuildConfig:
    onnx, name = resolve_model(model)
    b = load_board(board)
    io = load_io(onnx)
    out = Path(out_dir) if out_dir else DEFAULT_BUILD_ROOT / f"{name}-{b.name}"
    if kwargs.get("folding_file") is not None:
        kwargs["folding_file"] = Path(kwargs["folding_file"])
    return BuildConfig(
        model_path=onnx,
        io=io,
        board=b,
        out_dir=out,
        clock_mhz=float(clock_mhz or b.clock_mhz),
        **kwargs,
    )


def is_build_folder(path: str | Path) -> bool:
    """A folder `make compile` wrote (it holds build_config.json and accelerator.json)."""
    p = Path(path)
    return p.is_dir() and (p / "build_config.json").is_file() and (p / "accelerator.json").is_file()


def config_from_build(build_dir: str | Path) -> BuildConfig:
    """The configuration a build folder was made with (build_config.json), pointing at that folder."""
    build_dir = Path(build_dir)
    d = json.loads((build_dir / "build_config.json").read_text())
    model = Path(d["model_path"])
    if not model.is_file():
        raise FileNotFoundError(f"{build_dir} was built from {model}, which no longer exists")
    return make_config(model, board=d["board"]["name"], out_dir=build_dir, clock_mhz=d["clock_mhz"],
                       verify_frames=d["verify_frames"], verify_seed=d["verify_seed"])

"""Typed build configuration and the layout of a build folder (docs/artefacts.md "Build folder").

Build identity: every build records which model it was made from. `build_config.json` and
`report.json` hold `"model_sha256"`: the sha256 hex digest (lower case, 64 characters) of the bytes of the
source model.onnx the build compiled (`model_digest(path)`; the file as given to `compile`, i.e.
runs/<name>/model.onnx for a run folder). Whoever uses a build checks it against the model it means:
`check_build_model(build_dir, model_onnx)` here; the driver (which may not import compile/) hashes
the run folder's model.onnx with hashlib.sha256 and compares it with build_config.json's
"model_sha256" itself. A build without the field predates it and is treated as unknown, never as a
match.

A compile into a build folder made from another model starts clean: the generated artefacts of that
build (GENERATED below) are removed first and the log says so; `--from-step`/`--to-step` on such a
folder are refused. Only a folder holding our build_config.json is ever cleaned; a non-empty folder
without one is refused as `--out`.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amc_cli import RefusedInput
from amc_cli.inputs import load_onnx, read_json
from amc_cli.outputs import check_not_over_inputs, check_output_folder
from amc_cli.paths import REPO_ROOT

from .boards import RESOURCES, Board, load_board
from .iodesc import IODescription, load_io

DEFAULT_BUILD_ROOT = REPO_ROOT / "hw" / "builds"


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
    #: the budget the synthesized design must fit, where `budget` is a scaled one the folding searched under
    #: (synth --fit refolds so); None: `budget` itself
    fit_budget: Budget | None = None
    #: preferred_impl_style per op type for specialize_layers, e.g. {"MVAU": "hls"}
    impl_style: dict[str, str] = field(default_factory=dict)
    standalone_thresholds: bool = True
    #: let the folding search put RTL MVAU weights of up to 128 words in distributed RAM (LUTs, not BRAM)
    lutram_weights: bool = False
    mvau_wwidth_max: int = 36
    verify: bool = True
    verify_frames: int = 8
    verify_seed: int = 0
    start_step: str | None = None
    stop_step: str | None = None
    #: sha256 of the source model file (build identity; see the module docstring)
    model_sha256: str = ""

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
            "model_sha256": self.model_sha256,
            "io": self.io.to_dict(),
            "board": self.board.to_dict(),
            "out_dir": str(self.out_dir),
            "clock_mhz": self.clock_mhz,
            "folding_file": str(self.folding_file) if self.folding_file else None,
            "target_fps": self.target_fps,
            "folding_strategy": self.folding_strategy,
            "budget": self.budget.to_dict(),
            "fit_budget": self.fit_budget.to_dict() if self.fit_budget else None,
            "impl_style": dict(self.impl_style),
            "standalone_thresholds": self.standalone_thresholds,
            "lutram_weights": self.lutram_weights,
            "mvau_wwidth_max": self.mvau_wwidth_max,
            "verify": self.verify,
            "verify_frames": self.verify_frames,
            "verify_seed": self.verify_seed,
        }

    def save(self) -> Path:
        p = self.out_dir / "build_config.json"
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p


BUILD_CONFIG = "build_config.json"
# What a build writes into its folder; a clean start removes these (and nothing else).
GENERATED = ("steps", "codegen", "verify", "report", "report.json", "report.md", "rtlsim", "synth", "partition",
             "folding.json", "dataflow_parent.onnx", "accelerator.json", "error.txt", "bitstream")


class BuildMismatch(RefusedInput):
    """A build folder that was not made from the model it is used with; the message says which."""


def model_digest(path: str | Path) -> str:
    """sha256 hex digest of a model file's bytes: the build identity recorded as "model_sha256"."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def recorded_model(build_dir: str | Path) -> tuple[str | None, str | None]:
    """(model_sha256, model_path) that a build folder's build_config.json records (None where absent)."""
    p = Path(build_dir) / BUILD_CONFIG
    try:
        d = read_json(p)
    except (OSError, ValueError):
        return None, None
    if not isinstance(d, dict):
        return None, None
    return d.get("model_sha256") or None, d.get("model_path")


def check_build_model(build_dir: str | Path, model_onnx: str | Path) -> str:
    """Raise BuildMismatch unless `build_dir` was built from exactly the bytes of `model_onnx`; return the digest."""
    build_dir = Path(build_dir)
    if not (build_dir / BUILD_CONFIG).is_file():
        raise BuildMismatch(f"{build_dir} is not a build folder (no {BUILD_CONFIG})")
    want = model_digest(model_onnx)
    have, made_from = recorded_model(build_dir)
    if have is None:
        raise BuildMismatch(
            f"{build_dir} does not record which model it was built from (a build older than the model_sha256 "
            f"field); compile {model_onnx} again"
        )
    if have != want:
        raise BuildMismatch(
            f"{build_dir} was built from another model ({made_from}, sha256 {have[:12]}...) than {model_onnx} "
            f"(sha256 {want[:12]}...); compile {model_onnx} again, or name another build folder with --out"
        )
    return want


def check_model_file(onnx: Path) -> None:
    """A readable ONNX model with one static input shape; ValueError naming what is wrong."""
    g = load_onnx(onnx, "a QONNX model (export it with python -m model.pipeline ... --from export)").graph
    inits = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if not g.node or not inputs or not g.output:
        raise ValueError(f"{onnx}: an ONNX file without a graph to compile ({len(g.node)} nodes, {len(inputs)} "
                         f"inputs, {len(g.output)} outputs)")
    if len(inputs) != 1:
        raise ValueError(f"{onnx}: the graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                         "the accelerator takes one (the I/Q frame)")
    i = inputs[0]
    dims = i.type.tensor_type.shape.dim if i.type.tensor_type.HasField("shape") else []
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
    if not shape or any(not isinstance(d, int) or d <= 0 for d in shape):
        raise ValueError(
            f"{onnx}: input {i.name} has shape {shape or 'unknown'}; FINN compiles a static shape. Export with a "
            "fixed batch of 1, e.g. (1, 2, 1024) (a dynamic batch dimension is not supported)"
        )
    if shape[0] != 1:
        raise ValueError(f"{onnx}: input {i.name} has batch {shape[0]} (shape {shape}); export with batch 1")


def model_name(onnx: str | Path) -> str:
    """What a model is called in build folder names and reports: a run folder's model.onnx after its
    folder, any other .onnx file after the file itself."""
    p = Path(onnx)
    return p.resolve().parent.name if p.stem == "model" else p.stem


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
        raise FileNotFoundError(f"{p}: no such model file")
    name = model_name(p)
    return p, name


def check_out_dir(out: Path) -> None:
    """`--out` must be a build folder, an empty folder or a new one: never a file, never a folder of other files."""
    check_output_folder(out, (), BUILD_CONFIG, example="hw/builds/<name>")


def prepare_out_dir(cfg: "BuildConfig", log=print) -> None:
    """Before a build writes into cfg.out_dir: if that folder holds a build of another model, refuse a
    partial build (--from-step/--to-step) and otherwise remove that build's generated artefacts."""
    out = cfg.out_dir
    check_out_dir(out)
    if not (out / BUILD_CONFIG).is_file():
        return
    have, made_from = recorded_model(out)
    if have == cfg.model_sha256:
        return
    what = (f"another model ({made_from}, sha256 {have[:12]}...)" if have
            else "an unknown model (it predates the model_sha256 field)")
    if cfg.start_step or cfg.stop_step:
        flag = "--from-step" if cfg.start_step else "--to-step"
        raise BuildMismatch(f"{out} holds a build of {what}, not of {cfg.model_path}; {flag} would mix the two. "
                            f"Compile it whole first (without {flag}), or name another build folder with --out")
    keep = cfg.folding_file.resolve() if cfg.folding_file is not None else None
    removed = []
    for name in GENERATED:
        p = out / name
        if keep is not None and p.resolve() == keep:
            continue  # the folding file given as input stays
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        else:
            continue
        removed.append(name)
    log(f"{out} held a build of {what}; removed its artefacts ({', '.join(removed) or 'none'}) and building "
        f"{cfg.model_path} from the start")


def make_config(
    model: str | Path,
    board: str | Path = "zcu104",
    out_dir: str | Path | None = None,
    clock_mhz: float | None = None,
    **kwargs,
) -> BuildConfig:
    onnx, name = resolve_model(model)
    check_model_file(onnx)
    b = load_board(board)
    io = load_io(onnx)
    out = Path(out_dir) if out_dir else DEFAULT_BUILD_ROOT / f"{name}-{b.name}"
    check_not_over_inputs(out, [onnx, Path(model) if Path(model).is_dir() else None])
    check_out_dir(out)
    if kwargs.get("folding_file") is not None:
        kwargs["folding_file"] = Path(kwargs["folding_file"])
        if not kwargs["folding_file"].is_file():
            raise FileNotFoundError(f"--folding {kwargs['folding_file']}: no such file")
        from .folding import load_folding

        load_folding(kwargs["folding_file"])  # a damaged file is a usage error, named before the build
    fps = kwargs.get("target_fps")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"--target-fps {fps}: expected a positive number of frames per second")
    if clock_mhz is not None and not (math.isfinite(clock_mhz) and clock_mhz > 0):
        raise ValueError(f"--clock-mhz {clock_mhz}: expected a positive clock in MHz")
    if kwargs.get("verify_frames") is not None and kwargs["verify_frames"] < 1:
        raise ValueError(f"--verify-frames {kwargs['verify_frames']}: expected at least 1 frame")
    kwargs.setdefault("model_sha256", model_digest(onnx))
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
    d = read_json(build_dir / "build_config.json")
    model = Path(d["model_path"])
    if not model.is_file():
        raise FileNotFoundError(f"{build_dir} was built from {model}, which no longer exists")
    if d.get("model_sha256") != model_digest(model):
        raise BuildMismatch(
            f"{build_dir} was built from {model}, which has changed since (or the build predates the model_sha256 "
            f"field); compile it again: python -m compile.build compile {model} --out {build_dir}"
        )
    # the folding's inputs too: a synthesis that refolds (synth --fit) must search as the build did
    kept = {k: d[k] for k in ("target_fps", "folding_strategy", "impl_style", "standalone_thresholds",
                              "lutram_weights", "mvau_wwidth_max", "verify") if k in d}
    if d.get("budget"):
        kept["budget"] = Budget(**d["budget"])
    if d.get("fit_budget"):
        kept["fit_budget"] = Budget(**d["fit_budget"])
    return make_config(model, board=d["board"]["name"], out_dir=build_dir, clock_mhz=d["clock_mhz"],
                       verify_frames=d["verify_frames"], verify_seed=d["verify_seed"], **kept)

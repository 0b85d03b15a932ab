"""Sweeps: many recipes (or a grid over recipe values) -> accuracy, cost and score of each, Pareto front.

Every sweep is an Optuna study with two objectives (maximise test accuracy, minimise the challenge
score), stored in a database: SQLite in the sweep folder by default, any SQL server for a cluster.
Several workers, on one machine or many, run `python -m model.sweep run` on the same spec and storage
and share the work; each trial is an ordinary run folder, so an interrupted trial resumes, and a trial
whose worker died (no heartbeat for GRACE_S seconds) is failed and queued again for the next worker.
A worker never runs a point another worker has finished or is running (Optuna's grid sampler would, once
every point has started): it marks its trial PRUNED instead, and the table counts every point once.
$AMC_SWEEP_HEARTBEAT_S and $AMC_SWEEP_GRACE_S (whole seconds; defaults HEARTBEAT_S and GRACE_S) change how
often a running trial proves its worker alive and how long a silent one waits before it is failed; give
every worker of a study the same values.

    python -m model.sweep run  sweeps/compare.yaml --out runs/sweeps/compare [--storage URL] [--n-trials N]
    python -m model.sweep report sweeps/compare.yaml --out runs/sweeps/compare [--storage URL]

Exit status: 0 done (a failed trial is recorded in the study and queued again on the next run), 2 a bad
spec, trial recipe, point record (empty, cut short, a value of the wrong kind) or --out (one line on
stderr, before any trial runs or anything is written).

Spec (YAML):
    name: compare
    set: {train.epochs: 5}                  # overrides for every trial
    trials:                                 # explicit trials ...
      - {name: bacalhaunet, recipe: model/recipes/bacalhaunet.yaml}
      - {name: ours, recipe: model/recipes/ours.yaml, set: {net.args.w_bits: 3}}
    # ... or a grid over one base recipe (sampler: grid walks it all; nsga2 / tpe sample n_trials of it)
    base: model/recipes/ours.yaml
    grid: {net.args.w_bits: [3, 4], compress.stages.0.fraction: [0.5, 0.7]}
    sampler: grid
    compile: {board: zcu104}                # optional: hardware figures joined from compile/'s report
    # A fair comparison: one compression protocol for every trial, several seeds, and one small
    # JSON per finished (trial, seed) under `records` (commit it: a fresh checkout skips what is recorded)
    protocol:
      name: ladder-magnitude-0.45x3         # recorded in every trial's row and record
      stages: [{kind: magnitude, fraction: 0.45, max_steps: 3, finetune: {epochs: 3}}]  # replaces each
                                            # trial's compress.stages (a trial's `set` applies after it)
      max_val_drop: null                    # the floor on every stage of every trial (null: none anywhere)
    seeds: [0, 1, 2]                        # train.seed of each run; trial labels become <name>-seed<k>
    records: sweeps/results/fair

With a protocol, every trial's compression ladder is scored (model/ladder.py: each compression step's
model, test accuracy and cost), so one run gives a front; `report` then also writes fronts.md/.json/.png
(model/fronts.py): one front per trial name, mean and spread over seeds, from the records.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amc_cli import RefusedInput, command
from amc_cli.inputs import read_json
from model.config import RecipeError, from_dict, load_recipe, read_yaml, validate_recipe

SAMPLERS = ("grid", "nsga2", "tpe")


@dataclass
class TrialSpec:
    name: str = ""
    recipe: str = ""
    set: dict = field(default_factory=dict)


@dataclass
class ProtocolSpec:
    """One compression protocol for every trial of a comparison: the same stages and the same floor."""

    name: str = ""
    stages: list | None = None  # replaces every trial's compress.stages; None keeps each recipe's own
    max_val_drop: float | None = None  # every stage of every trial gets this floor (None: no floor anywhere)


@dataclass
class SweepSpec:
    name: str = "sweep"
    set: dict = field(default_factory=dict)
    trials: list = field(default_factory=list)  # of TrialSpec
    base: str | None = None
    grid: dict = field(default_factory=dict)
    sampler: str = "grid"
    n_trials: int | None = None
    compile: dict | None = None
    protocol: dict | None = None  # a ProtocolSpec's fields
    seeds: list = field(default_factory=list)  # train.seed values; every trial runs once per seed
    records: str | None = None  # folder of committed point records (one JSON per finished trial and seed)


RECORD_FORMAT = "amc-fpga-sweep-point/1"
MAX_CHECKED_TRIALS = 4096  # recipes of a sweep are all loaded (and so checked) before it starts, up to this many


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec: its keys, and every trial's recipe with its overrides (so a typo in a
    trial fails here, naming the trial and the key, not hours later inside the study)."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such sweep spec (see sweeps/ for the shipped ones)")
    data = read_yaml(path, "sweep spec")
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a sweep spec is a mapping (name, set, trials or base + grid), "
                          f"not a {type(data).__name__}")
    trials = data.get("trials") or []
    if not isinstance(trials, list):
        raise RecipeError(f"{path}: trials: expected a list of {{name, recipe, set}}, got {trials!r}")
    spec = from_dict(SweepSpec, {k: v for k, v in data.items() if k != "trials"})
    spec.trials = [from_dict(TrialSpec, t, f"trials[{i}].") for i, t in enumerate(trials)]
    if bool(spec.trials) == bool(spec.grid):
        raise RecipeError(f"{path}: give either `trials` or `base` + `grid`, not both or neither")
    if spec.grid and not spec.base:
        raise RecipeError(f"{path}: a grid needs `base`, the recipe it varies")
    if spec.sampler not in SAMPLERS:
        raise RecipeError(f"{path}: sampler {spec.sampler!r} unknown; choose one of {SAMPLERS}")
    if spec.n_trials is not None and spec.n_trials < 1:
        raise RecipeError(f"{path}: n_trials: expected at least 1, got {spec.n_trials}")
    for key, values in spec.grid.items():
        if not isinstance(values, list) or not values:
            raise RecipeError(f"{path}: grid.{key}: expected a non-empty list of values, got {values!r}")
    if spec.protocol is not None:
        spec.protocol = from_dict(ProtocolSpec, spec.protocol, "protocol.")
        if not spec.protocol.name.strip():
            raise RecipeError(f"{path}: protocol.name: give the protocol a name; every trial's row records it")
        if spec.protocol.stages is not None and not isinstance(spec.protocol.stages, list):
            raise RecipeError(f"{path}: protocol.stages: expected a list of compression stages, "
                              f"got {spec.protocol.stages!r}")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in spec.seeds) \
            or len(set(spec.seeds)) != len(spec.seeds):
        raise RecipeError(f"{path}: seeds: expected distinct integer seeds >= 0, e.g. [0, 1, 2]; got {spec.seeds!r}")
    if spec.records and not spec.protocol:
        raise RecipeError(f"{path}: records need a protocol (a record holds the trial's compression ladder); "
                          "add protocol: {name: ...}")
    labels = set()
    for n, params in enumerate(_all_params(spec)):
        if n >= MAX_CHECKED_TRIALS:
            break
        try:
            label, _ = trial_recipe(spec, params)
        except RecipeError as exc:
            which = (f"trials[{params['trial']}]" if spec.trials
                     else "grid point " + ", ".join(f"{k}={spec.grid[k][i]!r}" for k, i in params.items()
                                                    if k != "seed"))
            raise RecipeError(f"{path}: {which}: {exc}") from exc
        if label in labels:
            raise RecipeError(f"{path}: two trials are named {label!r}; they would share one run folder")
        labels.add(label)
    if spec.records:
        for label in sorted(labels):  # a damaged record stops both commands here, before anything is written
            if record_path(spec, label).is_file():
                load_record(record_path(spec, label))
    return spec


def _all_params(spec: SweepSpec):
    import itertools

    space = search_space(spec)
    keys = list(space)
    for combo in itertools.product(*(space[k] for k in keys)):
        yield dict(zip(keys, combo))


def search_space(spec: SweepSpec) -> dict[str, list]:
    """Parameter name -> choices. Choices are indices, because Optuna's categoricals must be scalars."""
    space = ({"trial": list(range(len(spec.trials)))} if spec.trials
             else {key: list(range(len(values))) for key, values in spec.grid.items()})
    if spec.seeds:
        space["seed"] = list(range(len(spec.seeds)))
    return space


def trial_recipe(spec: SweepSpec, params: dict):
    """(label, recipe) of the trial with these parameters."""
    name, recipe = _trial_name_and_recipe(spec, params)
    return (f"{name}-seed{spec.seeds[params['seed']]}" if spec.seeds else name), recipe


def _trial_name_and_recipe(spec: SweepSpec, params: dict):
    """The trial's name without its seed, and its recipe: spec.set, the protocol's stages, the trial's own
    set, the seed, then the protocol's floor on every stage."""
    protocol_stages = {}
    if spec.protocol and spec.protocol.stages is not None:
        protocol_stages = {"compress.stages": copy.deepcopy(spec.protocol.stages)}
    seed = {"train.seed": spec.seeds[params["seed"]]} if spec.seeds else {}
    if spec.trials:
        t = spec.trials[params["trial"]]
        name, path, own = t.name or Path(t.recipe).stem, t.recipe, t.set
    else:
        own = {key: spec.grid[key][params[key]] for key in spec.grid}
        name, path = ",".join(f"{key}={_short(v)}" for key, v in own.items()), spec.base
    recipe = load_recipe(path, {**spec.set, **protocol_stages, **own, **seed})
    if spec.protocol:
        for stage in recipe.compress.stages:  # one floor for all: a recipe's own floor (or none) no longer counts
            stage.max_val_drop, stage.min_val_acc = spec.protocol.max_val_drop, None
        validate_recipe(recipe)
    return name, recipe


def _short(value) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", json.dumps(value)).strip("_")


def make_sampler(spec: SweepSpec):
    import optuna

    if spec.sampler == "grid":
        return optuna.samplers.GridSampler(search_space(spec), seed=0)
    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=0)
    return optuna.samplers.TPESampler(seed=0)


HEARTBEAT_S = 60  # a worker's running trial proves it is alive this often ...
GRACE_S = 300  # ... and a trial silent for longer is failed and queued again (its run folder resumes)
MAX_RETRY = 3


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat interval, grace period) in seconds: $AMC_SWEEP_HEARTBEAT_S and $AMC_SWEEP_GRACE_S where
    set, else HEARTBEAT_S and GRACE_S."""
    values = []
    for name, default in (("AMC_SWEEP_HEARTBEAT_S", HEARTBEAT_S), ("AMC_SWEEP_GRACE_S", GRACE_S)):
        text = os.environ.get(name, "").strip()
        if not text:
            values.append(default)
            continue
        try:
            values.append(int(text))
        except ValueError:
            values.append(0)
        if values[-1] < 1:
            raise RefusedInput(f"${name}={text!r}: expected whole seconds, at least 1")
    heartbeat, grace = values
    if grace <= heartbeat and (os.environ.get("AMC_SWEEP_HEARTBEAT_S") or os.environ.get("AMC_SWEEP_GRACE_S")):
        raise RefusedInput(f"the grace period ({grace} s, $AMC_SWEEP_GRACE_S) is not longer than the heartbeat "
                           f"interval ({heartbeat} s, $AMC_SWEEP_HEARTBEAT_S): live workers' trials would be failed")
    return heartbeat, grace


def rdb_storage(url: str, name: str | None = None, **kwargs):
    """Optuna's RDBStorage of `url`. Workers that start together on an empty database all create its tables,
    and PostgreSQL lets only one CREATE win (the others fail on a duplicate key): a loser tries again, and
    finds the tables made. A URL that cannot be used is refused in one line naming it as `name` (default:
    `--storage <url>`, password hidden)."""
    import time

    import sqlalchemy.exc
    from optuna.storages import RDBStorage

    try:
        shown = name or "--storage " + sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        raise RefusedInput(f"--storage {url}: not a database URL (e.g. postgresql+psycopg://user@host/db)") from None
    for attempt in range(5):
        try:
            return RDBStorage(url, **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as exc:
            if attempt == 4:
                raise RefusedInput(f"{shown}: cannot create the study's tables: "
                                   f"{str(exc.orig).strip().splitlines()[0]}") from None
            time.sleep(0.2 * (attempt + 1))
        except sqlalchemy.exc.NoSuchModuleError:
            raise RefusedInput(f"{shown}: SQLAlchemy knows no such database kind") from None
        except ImportError as exc:  # Optuna's own ImportError, from the driver's
            missing = getattr(exc.__cause__, "name", None) or getattr(exc, "name", None) or "its module"
            raise RefusedInput(f"{shown}: its driver ({missing}) is not installed; pip install it "
                               "(.[model] installs psycopg, the driver of postgresql+psycopg://)") from None
        except sqlalchemy.exc.OperationalError as exc:
            raise RefusedInput(f"{shown}: cannot use the database: "
                               f"{str(exc.orig).strip().splitlines()[0]}") from None


def open_study(spec: SweepSpec, out: Path, storage: str | None):
    """The sweep's study; Optuna's heartbeat fails the trials of a worker that died (killed, machine
    lost) and retries them, so another worker picks them up instead of the grid waiting forever."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    heartbeat, grace = heartbeat_settings()
    if storage is None:  # the study lives in the sweep folder; a server's is reached before --out is made
        out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # heartbeats have worked since Optuna 2.9 but are still flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        db = rdb_storage(storage or f"sqlite:///{out / 'study.db'}", None if storage else str(out / "study.db"),
                         heartbeat_interval=heartbeat, grace_period=grace,
                         heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY))
    out.mkdir(parents=True, exist_ok=True)
    return optuna.create_study(
        study_name=spec.name, storage=db, load_if_exists=True,
        directions=["maximize", "minimize"], sampler=make_sampler(spec),
    )


def hardware_figures(run_dir: Path, compile_cfg: dict) -> dict:
    """The hook that joins compile/'s estimates: run its command line (never an import) and read the report."""
    out = run_dir / "hw" / compile_cfg.get("board", "zcu104")
    cmd = [sys.executable, "-m", "compile.build", "compile", str(run_dir), "--board", compile_cfg.get("board", "zcu104"),
           "--out", str(out), "--json"]
    if compile_cfg.get("target_fps"):
        cmd += ["--target-fps", str(compile_cfg["target_fps"])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"hw_error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    return hardware_row(read_json(out / "report.json"))


def hardware_row(report: dict) -> dict:
    res = report.get("resources", {})
    return {
        "hw_board": report.get("board"),
        "hw_frames_per_s": report.get("throughput", {}).get("frames_per_s"),
        "hw_lut": res.get("LUT", {}).get("estimate"),
        "hw_bram_18k": res.get("BRAM_18K", {}).get("estimate"),
        "hw_dsp": res.get("DSP", {}).get("estimate"),
        "hw_fits_board": report.get("fits_board"),
    }


def recipe_sha256(recipe) -> str:
    """What a point record was measured with: the whole recipe but its prose."""
    d = recipe.to_dict()
    d.pop("description", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def record_path(spec: SweepSpec, label: str) -> Path:
    return Path(spec.records) / f"{label}.json"


class RecordError(RefusedInput):
    """A point record that cannot be used (empty, cut short, a value of the wrong kind); the message names
    the file and what is wrong with it."""


RECORD_FIX = ("; restore it from version control, or delete it and the next `sweep run` measures that point "
              "again")
ROW_FIGURES = ("accuracy", "accuracy_0db", "accuracy_high_snr", "bit_ops", "bit_mem", "score")
RUNG_FIGURES = ("density", "accuracy", "bit_ops", "bit_mem", "score")


def load_record(path: Path) -> dict:
    """A point record, read and checked: the fields the sweep's table and the fronts read, of the right kind.
    A record is a measurement, not a cache: a damaged one is refused (RecordError), never silently rerun."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not a point record (not UTF-8 text){RECORD_FIX}") from None
    except OSError as exc:
        raise RecordError(f"{path}: cannot read the point record: {exc.strerror or exc}") from None
    if not text.strip():
        raise RecordError(f"{path}: an empty file, not a point record{RECORD_FIX}")
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not valid JSON (cut short?): {exc.msg} at line {exc.lineno} column "
                          f"{exc.colno}{RECORD_FIX}") from None
    problem = record_problem(rec)
    if problem:
        raise RecordError(f"{path}: {problem}{RECORD_FIX}")
    return rec


def _kind_of(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, (bool, int, float)):
        return repr(value)
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


def _figure_problem(where: str, key: str, value) -> str | None:
    """What is wrong with a figure of a row or rung: accuracies lie in [0, 1], costs are >= 0."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if key.startswith("accuracy"):
        if not ok or not 0 <= value <= 1:
            return f"{where}{key}: expected an accuracy (a number from 0 to 1), got {_kind_of(value)}"
    elif not ok or value < 0:
        return f"{where}{key}: expected a number >= 0, got {_kind_of(value)}"
    return None


def record_problem(rec) -> str | None:
    """What keeps `rec` from being a point record (model/sweep.py's write_record), or None."""
    if not isinstance(rec, dict):
        return f"expected a point record (a JSON object), got {_kind_of(rec)}"
    if rec.get("format") != RECORD_FORMAT:
        return f"format: expected {RECORD_FORMAT!r}, got {_kind_of(rec.get('format'))}"
    for key, kind, what in (("trial", str, "a string"), ("label", str, "a string"),
                            ("recipe_sha256", str, "a string"), ("protocol", dict, "an object"),
                            ("data", dict, "an object"), ("row", dict, "an object"), ("rungs", list, "a list")):
        if key not in rec:
            return f"{key}: missing"
        if not isinstance(rec[key], kind):
            return f"{key}: expected {what}, got {_kind_of(rec[key])}"
    if not isinstance(rec.get("seed"), int) or isinstance(rec.get("seed"), bool):
        return f"seed: expected an integer, got {_kind_of(rec.get('seed'))}"
    for key in ROW_FIGURES:
        if problem := _figure_problem("row.", key, rec["row"].get(key)):
            return problem
    for key in ("trial", "data"):
        if not isinstance(rec["row"].get(key), str):
            return f"row.{key}: expected a string, got {_kind_of(rec['row'].get(key))}"
    for n, rung in enumerate(rec["rungs"]):
        where = f"rungs[{n}]."
        if not isinstance(rung, dict):
            return f"rungs[{n}]: expected an object, got {_kind_of(rung)}"
        if not isinstance(rung.get("level"), int) or isinstance(rung.get("level"), bool):
            return f"{where}level: expected an integer, got {_kind_of(rung.get('level'))}"
        if not isinstance(rung.get("accepted"), bool):
            return f"{where}accepted: expected true or false, got {_kind_of(rung.get('accepted'))}"
        if not isinstance(rung.get("kind"), str):
            return f"{where}kind: expected a string, got {_kind_of(rung.get('kind'))}"
        for key in RUNG_FIGURES:
            if problem := _figure_problem(where, key, rung.get(key)):
                return problem
    return None


def same_generator(recorded: dict | None, recipe) -> bool:
    """Would this recipe's data come from the generator a record's did? The data file's own settings where
    it exists, else today's default generator (a fresh checkout writes the file with it)."""
    from model.data import synthetic_generator
    from model.synth.config import DEFAULT_CONFIG, SynthConfig

    path = Path(recipe.data.path)
    if path.is_file():
        now = synthetic_generator(path)
    else:
        now = asdict(DEFAULT_CONFIG) if recipe.data.synthetic_frames_per_block else None
    if recorded is None or now is None:
        return recorded is None and now is None
    return SynthConfig.from_dict(recorded) == SynthConfig.from_dict(now)


def read_record(spec: SweepSpec, label: str, recipe) -> dict | None:
    """The committed record of this trial and seed, if one was measured with exactly this recipe and
    protocol, on data from the same generator."""
    path = record_path(spec, label)
    if not path.is_file():
        return None
    rec = load_record(path)
    if rec.get("recipe_sha256") != recipe_sha256(recipe) or rec.get("protocol") != asdict(spec.protocol):
        why = "another recipe or protocol"
    elif not same_generator(rec["data"].get("synthetic_generator"), recipe):
        why = f"data from another synthetic generator than {recipe.data.path}'s"
    else:
        return rec
    print(f"[sweep] {path} was measured with {why}; trial {label} runs again", file=sys.stderr)
    return None


def write_record(spec: SweepSpec, params: dict, label: str, recipe, row: dict, ladder: dict) -> Path:
    """One small JSON per finished (trial, seed): what it ran, on what data and machine, and its ladder."""
    name, _ = _trial_name_and_recipe(spec, params)
    rec = {
        "format": RECORD_FORMAT, "sweep": spec.name, "trial": name, "label": label,
        "seed": recipe.train.seed, "protocol": asdict(spec.protocol), "recipe_sha256": recipe_sha256(recipe),
        "recipe": recipe.to_dict(), "data": ladder["data"], "environment": ladder["environment"],
        "row": {k: v for k, v in row.items() if k != "run"}, "rungs": ladder["rungs"],
    }
    path = record_path(spec, label)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rec, indent=1) + "\n")
    tmp.replace(path)
    return path


def run_trial(spec: SweepSpec, out: Path, params: dict, progress: bool = True) -> dict:
    """Run (or resume) one trial's pipeline; return its row of figures. A trial with a committed record
    (spec.records) is not run again: its row comes from the record."""
    from model.ladder import write_ladder
    from model.pipeline import RunFolder, run_pipeline

    label, recipe = trial_recipe(spec, params)
    if spec.records and (rec := read_record(spec, label, recipe)) is not None:
        if progress:
            print(f"[sweep] {label}: recorded in {record_path(spec, label)}; not run again", flush=True)
        return {**rec["row"], "run": str(record_path(spec, label))}
    run = RunFolder(out / "trials" / label)
    run_pipeline(recipe, run.root, progress=progress)
    metrics = read_json(run.metrics)
    cost = read_json(run.cost)
    snr = metrics["accuracy_per_snr"]
    row = {
        "trial": label, "run": str(run.root), "net": recipe.net.name, "data": metrics["data"]["kind"],
        "accuracy": metrics["accuracy"], "accuracy_0db": snr.get("0"), "accuracy_high_snr": metrics["accuracy_high_snr"],
        "accuracy_per_snr": snr, "bit_ops": cost["total_bops"], "bit_mem": cost["total_mem_w_bits"],
        "score": cost["score"], "uncounted_ops": cost["unsupported_ops"],
    }
    if spec.compile:
        row.update(hardware_figures(run.root, spec.compile))
    if spec.protocol:
        ladder = write_ladder(run.root, recipe, progress=progress)
        row.update(protocol=spec.protocol.name, seed=recipe.train.seed, rungs=len(ladder["rungs"]))
        if spec.records:
            write_record(spec, params, label, recipe, row, ladder)
    return row


def run_sweep(spec: SweepSpec, out: Path, storage: str | None = None, n_trials: int | None = None,
              progress: bool = True):
    import optuna

    study = open_study(spec, out, storage)

    def objective(trial: optuna.Trial):
        params = {k: trial.suggest_categorical(k, v) for k, v in search_space(spec).items()}
        if (other := taken_by(study, trial.number, params)) is not None:
            label = trial_recipe(spec, params)[0]
            print(f"[sweep] {label}: trial {other.number} has it ({other.state.name.lower()}); not run twice",
                  file=sys.stderr)
            raise optuna.TrialPruned(f"a duplicate of trial {other.number}")
        row = run_trial(spec, out, params, progress)
        for key, value in row.items():
            trial.set_user_attr(key, value)
        return row["accuracy"], row["score"]

    grid_size = 1
    for choices in search_space(spec).values():
        grid_size *= len(choices)
    budget = n_trials or spec.n_trials or (grid_size if spec.sampler == "grid" else None)
    if budget is None:
        raise RecipeError("a sampled sweep needs n_trials (in the spec or --n-trials)")
    requeue_failed(study, spec)
    if spec.seeds and spec.sampler == "grid":
        queue_seed_major(study, spec)
    done = len(completed_trials(study))
    remaining = budget - done if spec.sampler == "grid" else budget
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, catch=(Exception,))
    return write_report(study, out, spec)


def taken_by(study, number: int, params: dict):
    """The trial that already holds these parameters, if any: a complete one, or a running one that started
    first (its worker alive, or silent and soon failed and queued again by its heartbeat). Optuna's grid
    sampler hands a worker a point another worker is running once every point has started; that worker
    must not run it too (twice the work, and the point twice in the table)."""
    import optuna

    state = optuna.trial.TrialState
    for t in study.get_trials(deepcopy=False, states=(state.COMPLETE, state.RUNNING)):
        if t.number != number and t.params == params and (t.state == state.COMPLETE or t.number < number):
            return t
    return None


def completed_trials(study) -> list:
    """The study's complete trials, one per point (the first to complete): two workers that raced for one
    point both complete it, and it counts once."""
    import optuna

    seen, trials = [], []
    for t in sorted(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)),
                    key=lambda t: t.number):
        if t.params not in seen:
            seen.append(t.params)
            trials.append(t)
    return trials


def requeue_failed(study, spec: SweepSpec) -> None:
    """Queue again each failed trial that has not since completed or been queued: a trial that raised (a
    bug fixed since, a full disk) reruns on the next `sweep run` and resumes from its run folder. Optuna's
    grid sampler alone counts a failed grid point as visited and would never return to it."""
    import optuna

    state = optuna.trial.TrialState
    settled = [t.params for t in study.get_trials(deepcopy=False)
               if t.state in (state.COMPLETE, state.WAITING, state.RUNNING)]
    for t in study.get_trials(deepcopy=False):
        if t.state == state.FAIL and t.params and t.params not in settled:
            label = trial_recipe(spec, t.params)[0]
            print(f"[sweep] trial {label} failed in an earlier run; queued again", file=sys.stderr)
            study.enqueue_trial(t.params)
            settled.append(t.params)


def queue_seed_major(study, spec: SweepSpec) -> None:
    """Queue a seeded grid seed by seed (every trial at the first seed, then the second, ...), so a sweep cut
    short still compares every trial on the same seeds; the grid sampler alone would pick points at random."""
    import itertools

    import optuna

    state = optuna.trial.TrialState
    settled = [t.params for t in study.get_trials(deepcopy=False)
               if t.state in (state.COMPLETE, state.WAITING, state.RUNNING)]
    space = {k: v for k, v in search_space(spec).items() if k != "seed"}
    for seed in search_space(spec)["seed"]:
        for combo in itertools.product(*space.values()):
            params = {**dict(zip(space, combo)), "seed": seed}
            if params not in settled:
                study.enqueue_trial(params)
                settled.append(params)


def pareto_front(rows: list[dict]) -> list[dict]:
    """Rows no other row beats on both accuracy (higher) and score (lower)."""
    from model.fronts import is_dominated

    points = [(r["accuracy"], r["score"]) for r in rows]
    return [r for r, p in zip(rows, points) if not is_dominated(p, points)]


def write_report(study, out: Path, spec: SweepSpec | None = None) -> list[dict]:
    """results.md/.json and pareto.png from the study; with records, fronts.md/.json/.png from them too."""
    rows = [dict(t.user_attrs) for t in completed_trials(study)]
    rows.sort(key=lambda r: r["score"])
    front = {r["trial"] for r in pareto_front(rows)}
    for r in rows:
        r["pareto"] = r["trial"] in front
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "results.md").write_text(format_table(rows))
    if rows:
        plot_pareto(rows, out / "pareto.png", study.study_name)
    if spec is not None and spec.records:
        write_fronts(spec, out)
    return rows


def current_records(spec: SweepSpec) -> list[dict]:
    """The spec's records measured with its current recipes and protocol (stale ones are named, not used)."""
    import itertools

    records = []
    space = search_space(spec)
    for combo in itertools.product(*space.values()):
        params = dict(zip(space, combo))
        label, recipe = trial_recipe(spec, params)
        rec = read_record(spec, label, recipe)
        if rec is not None:
            records.append(rec)
    return records


def write_fronts(spec: SweepSpec, out: Path) -> list[dict]:
    from model.fronts import aggregate, format_fronts_table, plot_fronts

    records = current_records(spec)
    rows = aggregate(records)
    (out / "fronts.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "fronts.md").write_text(format_fronts_table(rows))
    if rows:
        plot_fronts(rows, records, out / "fronts.png", f"sweep {spec.name}: protocol {spec.protocol.name}")
    print(f"[sweep] fronts from {len(records)} record(s) in {spec.records}: {out / 'fronts.md'}"
          + (f", {out / 'fronts.png'}" if rows else ""), file=sys.stderr)
    return rows


def format_table(rows: list[dict]) -> str:
    hw = any("hw_frames_per_s" in r for r in rows)
    protocol = any("protocol" in r for r in rows)
    head = "| trial | data | accuracy | acc 0 dB | acc >= 10 dB | bit ops | bit mem | score | Pareto |"
    head += " protocol |" if protocol else ""
    head += " frames/s | LUT |" if hw else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        line = (f"| {r['trial']} | {r['data']} | {r['accuracy']:.4f} | {r['accuracy_0db']:.4f} | "
                f"{r['accuracy_high_snr']:.4f} | {r['bit_ops']:.0f} | {r['bit_mem']:.0f} | {r['score']:.6f} | "
                f"{'yes' if r['pareto'] else ''} |")
        if protocol:
            line += f" {r.get('protocol', '')} |"
        if hw:
            fps, lut = r.get("hw_frames_per_s"), r.get("hw_lut")
            line += f" {fps:,.0f} | {lut:,.0f} |" if fps is not None else " - | - |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def plot_pareto(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    from model.metrics import CHALLENGE_MIN_ACCURACY

    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    ax.scatter([r["score"] for r in rows], [r["accuracy"] for r in rows], c="grey", label="trials")
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["score"])
    ax.plot([r["score"] for r in front], [r["accuracy"] for r in front], "o-", c="C1", label="Pareto front")
    for r in rows:
        ax.annotate(r["trial"], (r["score"], r["accuracy"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(CHALLENGE_MIN_ACCURACY, ls=":", c="C3", lw=1, label="challenge minimum (56%)")
    ax.set_xscale("log")
    # plain numbers on minor ticks too: a sweep's scores often span less than a decade
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="both", labelsize=7, length=3.5)
    kinds = sorted({r["data"] for r in rows})
    ax.set(xlabel="inference-cost score (log; lower is better)", ylabel=f"test accuracy ({', '.join(kinds)} data)",
           title=f"sweep {title}")
    ax.grid(alpha=0.3, which="both")
    fig.legend(loc="outside lower center", ncols=3, fontsize=8)  # below the axes: never over a trial
    fig.savefig(path, dpi=120)
    plt.close(fig)


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run a sweep of recipes and draw its Pareto front.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run (or join) a sweep")
    r.add_argument("spec")
    r.add_argument("--out", required=True, help="sweep folder (trials/, study.db, results.*, pareto.png)")
    r.add_argument("--storage", help="Optuna storage URL shared by workers (default: sqlite in --out)")
    r.add_argument("--n-trials", type=int)
    r.add_argument("--quiet", action="store_true")
    rep = sub.add_parser("report", help="rewrite the table and plot from the study")
    rep.add_argument("spec")
    rep.add_argument("--out", required=True)
    rep.add_argument("--storage")
    args = ap.parse_args(argv)
    if getattr(args, "n_trials", None) is not None and args.n_trials < 1:
        ap.error(f"--n-trials {args.n_trials}: expected at least 1")
    spec = load_spec(args.spec)
    out = Path(args.out)
    if args.cmd == "run":
        rows = run_sweep(spec, out, args.storage, args.n_trials, progress=not args.quiet)
    else:
        rows = write_report(open_study(spec, out, args.storage), out, spec)
    print(format_table(rows))
    print(f"table {out / 'results.md'}, plot {out / 'pareto.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make deploy`: package a compiled model, run it on a PYNQ board over ssh (or in emulation), report.

    python -m driver.deploy runs/<name> --board <[user@]host[:port]>   # on the board
    python -m driver.deploy runs/<name> --board emulate                # here, in emulation
    python -m driver.deploy runs/<name> --board rtlsim                 # here, on the simulated RTL

Board: the deployment package (meta/: io.json, accelerator.json, report.json, cost.json, frames.npz;
bitfile/: finn-plus's bitfile and hwh; driver/: its settings.json; code/driver/: this package; run.sh)
is copied to the board with scp, run there with ssh (driver.run, backend board), the results are
fetched back and the report is written here. ssh/scp run with BatchMode=yes (no password prompts)
and ConnectTimeout, each call with a deadline of its own: a board that does not answer is an error,
never a wait.

Emulation (no board, or --board emulate, or a board type such as zcu104): the same package is
assembled, the commands a board deployment would run are printed, and driver.run runs here with the
emulation backend (the build's accelerator executed by finn-plus in the compile environment) on a
named subset of the test split. Its report says EMULATION throughout.

RTL simulation (--board rtlsim): the same, with the verilated RTL of the stitched accelerator
(compile/rtlsim/, FIFOs as `make rtlsim` sized them) behind the driver instead of finn-plus's Python
execution; fast enough for the whole test split, which is its default. Its report says RTL
SIMULATION and gives throughput and latency in simulated cycles at the build's clock.

Before anything runs, the data file is checked against the run (readable HDF5 of the RadioML schema;
the frames of predictions.npz with the same labels and SNRs; where DATA names another file than the
run's data.json, the same block size, generator settings and seed, and the same I/Q samples): a
different file is named as such (exit status 2), never reported as a disagreeing accelerator.

ssh and scp get `--` before the host; a host or user starting with '-' is refused. --remote-dir is
deleted on the board before each copy only if a deployment created and marked it (a file
.amc-fpga-deploy in it); an empty folder is taken over, anything else refused (exit status 2). The
results are fetched next to the previous ones and replace them only once complete.

Exit status: 0 done, 1 the accelerator disagrees with the software model, 2 usage/metadata/data error,
3 no bitfile for a board, 4 the accelerator or emulator failed, 5 the board did not answer or the
remote run failed.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import amc_cli
from amc_cli.inputs import read_json
from amc_cli.outputs import check_output_folder
from amc_cli.paths import REPO_ROOT

from .board import find_bitfile
from .meta import BitfileMissing, MetadataError, ModelIO

REPO = REPO_ROOT
EMULATE = "emulate"
RTLSIM = "rtlsim"


class BoardUnreachable(amc_cli.BoardUnreachable, RuntimeError):
    """ssh/scp to the board failed or timed out; the message has ssh's own words."""

    def __init__(self, message: str, returncode: int | None = None):
        super().__init__(message)
        self.returncode = returncode


#: [user@]host[:port]: user and host names as ssh knows them (letters, digits, '.', '_', '-'; never a
#: leading '-', which ssh and scp would take for an option), or a bracketed IPv6 address
HOST_RE = re.compile(r"([A-Za-z0-9_][A-Za-z0-9._-]*@)?([A-Za-z0-9_][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?")
#: the file that marks a folder on the board as one a deployment created (and may therefore delete)
REMOTE_MARK = ".amc-fpga-deploy"
# what a deployment writes into --out: a folder holding one of them may be written again
DEPLOYMENT_MARKERS = ("package/meta/deploy.json", "results/results.json", "report.json")
REMOTE_MARK_TEXT = "amc-fpga-deploy/1"
#: exit status of the "make room" step when --remote-dir is an existing folder no deployment made
REFUSED_RC = 9


@dataclass
class Target:
    """Where to deploy: a board over ssh, or emulation."""

    host: str | None = None  # [user@]host; None: emulation
    port: int | None = None
    board_type: str | None = None
    rtlsim: bool = False  # emulated on the verilated RTL instead of finn-plus's Python execution

    @property
    def emulated(self) -> bool:
        return self.host is None

    @property
    def backend(self) -> str:
        """driver.run's --backend for this target."""
        return "board" if not self.emulated else RTLSIM if self.rtlsim else "emulation"

    @classmethod
    def parse(cls, text: str | None, boards_dir: Path = REPO / "hw" / "boards") -> "Target":
        t = (text or "").strip()
        if t in ("", EMULATE):
            return cls()
        if t == RTLSIM:
            return cls(rtlsim=True)
        if (boards_dir / f"{t}.yaml").is_file():  # a board type (BOARD=zcu104 is compile's meaning)
            return cls(board_type=t)
        m = HOST_RE.fullmatch(t)
        if not m or (m.group(3) and not 1 <= int(m.group(3)) <= 65535):
            why = (" (a host or user may not start with '-': ssh would read it as an option)"
                   if t.startswith("-") or "@-" in t else "")
            raise MetadataError(f"BOARD={t!r} is not [user@]host[:port], '{EMULATE}', '{RTLSIM}' or a board type "
                                f"({', '.join(sorted(p.stem for p in boards_dir.glob('*.yaml')))}){why}")
        return cls(host=(m.group(1) or "") + m.group(2), port=int(m.group(3)) if m.group(3) else None)

    @property
    def ssh_host(self) -> str | None:
        """The host as ssh takes it: an IPv6 address without its brackets (scp keeps them)."""
        return self.host.replace("[", "").replace("]", "") if self.host else None

    def __str__(self) -> str:
        if self.emulated:
            return RTLSIM if self.rtlsim else EMULATE
        return f"{self.host}{':' + str(self.port) if self.port else ''}"


@dataclass
class Plan:
    run_dir: Path | None
    model_onnx: Path | None
    name: str
    build: Path
    board_type: str
    data: Path
    out: Path
    io_json: Path | None
    predictions: Path | None
    cost: Path | None
    bitfile: Path | None = None
    settings: Path | None = None
    bitfile_problem: str | None = None
    notes: list = field(default_factory=list)


def _read_json(path: Path, what: str) -> dict:
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MetadataError(f"{path}: the {what} cannot be read as JSON ({e})") from e
    if not isinstance(d, dict):
        raise MetadataError(f"{path}: the {what} is not a JSON object")
    return d


def _board_type_of(build: Path) -> str:
    rep = build / "report.json"
    if rep.is_file():
        try:
            return str(_read_json(rep, "build report")["board"]["name"])
        except (KeyError, TypeError) as e:
            raise MetadataError(f"{rep}: no board.name in the build report ({e!r})") from e
    return build.name.rsplit("-", 1)[-1]


def check_build_model(build: Path, onnx: Path, model: str) -> None:
    """The build must have been compiled from this model.onnx: build_config.json records the sha256 of
    the model it compiled ("model_sha256", compile/config.py), else a report could carry one model's
    name and another's measurements."""
    import hashlib

    cfg = build / "build_config.json"
    recorded = _read_json(cfg, "build configuration").get("model_sha256") if cfg.is_file() else None
    again = f"compile it again: make compile MODEL={model} [OUT={build}]"
    if not recorded:
        raise MetadataError(f"{build} does not record which model it was built from (a build from before "
                            f"builds recorded it); {again}")
    if not onnx.is_file():
        raise MetadataError(f"{onnx} is missing: the run folder has no exported model")
    if hashlib.sha256(onnx.read_bytes()).hexdigest() != recorded:
        raise MetadataError(f"{build} was compiled from another model than {onnx} (model_sha256 differs); {again}")


def make_plan(model: str, target: Target, build: str | None, data: str | None, out: str | None) -> Plan:
    p = Path(model)
    if p.is_dir():
        run_dir, onnx = p, p / "model.onnx"
        name = p.resolve().name
    elif p.suffix == ".onnx" and p.is_file():
        run_dir, onnx = p.parent, p
        name = p.stem if p.stem != "model" else p.resolve().parent.name
    else:
        raise MetadataError(f"MODEL={model}: expected a run folder (runs/<name>/) or a .onnx file")
    if build:
        b = Path(build)
    else:
        bt = target.board_type or "zcu104"
        b = REPO / "hw" / "builds" / f"{name}-{bt}"
        if not target.board_type and not b.is_dir():
            cands = sorted((REPO / "hw" / "builds").glob(f"{name}-*"))
            if len(cands) == 1:
                b = cands[0]
    if not (b / "accelerator.json").is_file():
        raise MetadataError(f"no build folder for {name} at {b} (no accelerator.json): run `make compile MODEL={model}` "
                            "first, or pass BUILD=<build folder>")
    check_build_model(b, onnx, model)
    io_json = run_dir / "io.json" if (run_dir / "io.json").is_file() else None
    preds = run_dir / "predictions.npz" if (run_dir / "predictions.npz").is_file() else None
    cost = run_dir / "cost.json" if (run_dir / "cost.json").is_file() else None
    if data is None:
        dj = run_dir / "data.json"
        if dj.is_file() and _read_json(dj, "run's data description").get("path"):
            data = str(_read_json(dj, "run's data description")["path"])
            if not Path(data).is_absolute() and not Path(data).exists() and (REPO / data).exists():
                data = str(REPO / data)  # data.json paths are relative to the repository, where make runs
    if data is None:
        raise MetadataError(f"no data file: pass DATA=<RadioML .h5> (the run folder {run_dir} has no data.json)")
    bt = _board_type_of(b)
    suffix = {"board": "board", "emulation": "emulation", RTLSIM: RTLSIM}[target.backend]
    plan = Plan(run_dir=run_dir, model_onnx=onnx, name=name, build=b, board_type=bt, data=Path(data),
                out=Path(out) if out else REPO / "hw" / "deploy" / f"{name}-{bt}-{suffix}", io_json=io_json,
                predictions=preds, cost=cost)
    if preds is None:
        plan.notes.append(f"{run_dir} has no predictions.npz: no software reference, the report shows accuracy only")
    try:
        plan.bitfile, plan.settings = find_bitfile(b / "bitstream" / "finn_output")
    except (BitfileMissing, MetadataError) as e:
        plan.bitfile_problem = str(e)
    return plan


def assemble_package(plan: Plan) -> Path:
    """The deployment package: what is copied to the board (the same folder drives the emulation)."""
    pkg = plan.out / "package"
    from .frontend import FrameSet

    check_out_dir(plan.out, (plan.run_dir, plan.model_onnx, plan.build, plan.data))
    # check now that the artefacts fit together (not on the board, minutes later), before anything is replaced
    ModelIO.load(plan.build / "accelerator.json", plan.io_json)
    fs = FrameSet.from_predictions(plan.predictions) if plan.predictions is not None else None  # DataError if damaged
    if pkg.exists():
        shutil.rmtree(pkg)
    meta = pkg / "meta"
    meta.mkdir(parents=True)
    shutil.copy2(plan.build / "accelerator.json", meta / "accelerator.json")
    for src, dst in ((plan.io_json, "io.json"), (plan.build / "report.json", "report.json"), (plan.cost, "cost.json")):
        if src is not None and Path(src).is_file():
            shutil.copy2(src, meta / dst)
    if fs is not None:
        np.savez_compressed(meta / "frames.npz", index=fs.index, label=fs.label, snr_db=fs.snr_db)
    if plan.bitfile is not None:
        (pkg / "bitfile").mkdir()
        shutil.copy2(plan.bitfile, pkg / "bitfile" / plan.bitfile.name)
        shutil.copy2(plan.bitfile.with_suffix(".hwh"), pkg / "bitfile" / plan.bitfile.with_suffix(".hwh").name)
        shutil.copytree(plan.settings.parent, pkg / "driver")
    (meta / "deploy.json").write_text(json.dumps({
        "name": f"{plan.name}-{plan.board_type}", "model": str(plan.model_onnx), "build": str(plan.build),
        "board_type": plan.board_type, "bitfile": str(plan.bitfile) if plan.bitfile else None}, indent=2) + "\n")
    for package in ("driver", "amc_cli"):  # the driver and the command layer it runs through
        code = pkg / "code" / package
        code.mkdir(parents=True)
        for f in sorted((REPO / package).glob("*.py")):
            shutil.copy2(f, code / f.name)
    (pkg / "run.sh").write_text(RUN_SH)
    (pkg / "run.sh").chmod(0o755)
    return pkg


RUN_SH = """#!/bin/bash
# On the board: the PYNQ image's Python environment, then the driver on this package.
#   run.sh [--python <python>] <driver.run options>
# --python: the Python that runs the driver (default: python3 of the PYNQ environment, sourced below);
# it needs numpy < 2, h5py and finn-plus-driver, and pynq for the board backend.
set -e
cd "$(dirname "$0")"
PY=python3
if [ "${1:-}" = "--python" ]; then PY="$2"; shift 2; fi
for f in /etc/profile.d/pynq_venv.sh /etc/profile.d/xrt_setup.sh; do [ -f "$f" ] && source "$f"; done
need="finn_plus_driver, pynq"
case " $* " in *" --backend emulation "*|*" --backend rtlsim "*) need="finn_plus_driver";; esac
"$PY" -c "import $need" 2>/dev/null || {
    echo "error: $PY cannot import $need: pip install finn-plus-driver==1.6.1" \\
         "(in the board's PYNQ environment, or pass --remote-python)" >&2; exit 2; }
export PYTHONPATH="$PWD/code${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m driver.run --backend board --package "$PWD" --out "$PWD/results" "$@"
"""


def check_out_dir(out: Path, inputs=()) -> None:
    """--out is written into (package/ and results/ replaced): not over the deployment's inputs (the run and
    build folders, the data file); only a new or empty folder, or one a deployment wrote."""
    check_output_folder(out, inputs, DEPLOYMENT_MARKERS)


def check_run_data(plan: Plan, explicit: bool) -> list:
    """The data file against the run, before any accelerator runs: readable and of the RadioML schema;
    the run's frames (predictions.npz) with their labels and SNRs at the same indices; and, where DATA
    names another file than the run's data.json, the same generator settings, block size and frame
    content. A DataError says what differs and which file the run used; returns notes for the log."""
    from .frontend import DataError, FrameSet, check_data_file, content_mismatches, label_mismatches

    notes = []
    info = check_data_file(plan.data)
    dj_path = plan.run_dir / "data.json" if plan.run_dir else None
    dj = _read_json(dj_path, "data.json") if dj_path is not None and dj_path.is_file() else {}
    recorded = Path(dj["path"]) if dj.get("path") else None
    if recorded is not None and not recorded.is_absolute() and not recorded.exists():
        recorded = REPO / recorded  # data.json paths are relative to the repository, where make runs
    same = recorded is not None and recorded.is_file() and recorded.resolve() == Path(plan.data).resolve()
    problems = []
    fpb = dj.get("frames_per_block")
    if fpb is not None and int(fpb) != info["frames_per_block"]:
        problems.append(f"{info['frames_per_block']} frames per (class, SNR) block, the run's file has {fpb}")
    attrs = info["attrs"]
    if dj.get("kind") == "synthetic" and not attrs.get("synthetic"):
        problems.append("it is not a synthetic file, the run's is")
    elif dj.get("kind") in ("radioml2018", "radioml-schema") and attrs.get("synthetic"):
        problems.append("it is a synthetic file, the run's is not")
    gen = dj.get("synthetic_generator")
    if gen and attrs.get("synthetic") and attrs.get("config"):
        try:
            theirs = json.loads(attrs["config"])
            diff = sorted(k for k in set(gen) | set(theirs) if gen.get(k) != theirs.get(k))
        except (TypeError, ValueError):
            diff = ["config (unreadable)"]
        if diff:
            problems.append(f"other synthetic-generator settings ({', '.join(diff[:6])})")
    if recorded is not None and recorded.is_file() and not same and not problems:
        try:
            theirs = check_data_file(recorded)["attrs"]
        except Exception:
            theirs = {}
        if attrs.get("synthetic") and "seed" in attrs and "seed" in theirs and attrs["seed"] != theirs["seed"]:
            problems.append(f"generator seed {attrs['seed']}, the run's file has seed {theirs['seed']}")
    fs = FrameSet.from_predictions(plan.predictions) if plan.predictions is not None else None
    if fs is not None and not problems:
        checked, bad, first = label_mismatches(plan.data, fs)
        if bad:
            problems.append(f"{bad} of {checked} test frames checked have other labels or SNRs than in "
                            f"{plan.predictions.name} ({first})")
    if fs is not None and not problems and recorded is not None and recorded.is_file() and not same:
        checked, bad, first = content_mismatches(plan.data, recorded, fs.index)
        if bad:
            problems.append(f"{bad} of {checked} test frames checked hold other I/Q samples than the run's file "
                            f"(first: frame {first})")
    if problems:
        used = f"{recorded} (data.json)" if recorded is not None else "another file (its data.json names none)"
        raise DataError(f"DATA={plan.data} is not the data file run {plan.run_dir} was evaluated on, {used}: "
                        + "; ".join(problems)
                        + (f". Leave DATA out to use {recorded}" if recorded is not None and explicit else ""))
    if explicit and recorded is not None and not same and not (recorded.is_file()):
        notes.append(f"the run's data file {recorded} (data.json) is not here: {plan.data} was checked for schema, "
                     "labels and SNRs only, not frame by frame")
    return notes


# ---- the board side: ssh and scp with deadlines -------------------------------------------------
def ssh_options(connect_timeout: int, port: int | None, scp: bool = False) -> list:
    opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}", "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4", "-o", "StrictHostKeyChecking=accept-new"]
    if port:
        opts += ["-P" if scp else "-p", str(port)]
    return opts


#: what --remote-dir may hold: a path that needs no quoting in a remote shell (scp's legacy protocol
#: hands it to one) and none in SFTP mode (which takes it literally), so one spelling works for both
REMOTE_DIR_RE = re.compile(r"[A-Za-z0-9_./+-]+")


def check_remote_dir(remote_dir: str) -> str:
    """--remote-dir, checked: a plain path (absolute, or relative to the login's home), no '..', never '/'."""
    d = str(remote_dir)
    parts = [p for p in d.split("/") if p not in ("", ".")]
    problem = ("may only hold letters, digits and . _ / + - (it goes through a remote shell)"
               if not REMOTE_DIR_RE.fullmatch(d) else "may not start with '-'" if d.startswith("-")
               else "may not contain '..'" if ".." in parts else "must name a folder below / or the home folder"
               if not parts else None)
    if problem:
        raise MetadataError(f"--remote-dir {d!r} {problem}")
    return ("/" if d.startswith("/") else "") + "/".join(parts)


def make_room_script(remote_dir: str, sudo: bool) -> str:
    """Shell code run on the board before the copy: `remote_dir` is deleted only if a deployment created
    and marked it (REMOTE_MARK); an empty folder is taken over; anything else is refused (REFUSED_RC)."""
    d, m = shlex.quote(remote_dir), shlex.quote(f"{remote_dir}/{REMOTE_MARK}")
    rm = f"rm -rf -- {d}" + (f" 2>/dev/null || sudo -n rm -rf -- {d}" if sudo else "")
    refuse = (f"echo {shlex.quote(f'{remote_dir} exists and was not made by a deployment (no {REMOTE_MARK} in it)')}"
              f" >&2; exit {REFUSED_RC}")
    return (f"if [ -L {d} ] || {{ [ -e {d} ] && [ ! -d {d} ]; }}; then {refuse}; fi; "
            f"if [ -d {d} ]; then "
            f"if [ -f {m} ] && IFS= read -r l < {m} && [ \"$l\" = {REMOTE_MARK_TEXT} ]; then {rm}; "
            f"elif [ -n \"$(ls -A -- {d})\" ]; then {refuse}; fi; fi; "
            f"mkdir -p -- {d} && echo {REMOTE_MARK_TEXT} > {m} && "
            f"echo 'made by driver.deploy: deleted and rewritten by the next deployment here' >> {m}")


def remote_commands(target: Target, plan: Plan, remote_dir: str, run_args: list, connect_timeout: int,
                    sudo: bool = True, remote_python: str | None = None) -> list:
    """The commands of a board deployment, in order: (purpose, argv). `--` ends the options before every
    host, so no host or path can become one; the remote folder is `remote_dir`, marked as a deployment's,
    with the package in `remote_dir`/package."""
    host = target.host or "<user@board>"
    ssh_host = target.ssh_host or host
    remote_dir = check_remote_dir(remote_dir)
    pkg = f"{remote_dir}/package"
    ssh = ["ssh", *ssh_options(connect_timeout, target.port), "--", ssh_host]
    scp = ["scp", "-q", "-r", *ssh_options(connect_timeout, target.port, scp=True), "--"]
    run = ((["sudo", "-n"] if sudo else []) + ["bash", f"{pkg}/run.sh"]
           + (["--python", remote_python] if remote_python else []) + list(run_args))
    return [
        ("check the board answers", [*ssh, "true"]),
        ("make room on the board", [*ssh, make_room_script(remote_dir, sudo)]),
        ("copy the deployment package", [*scp, str(plan.out / "package"), f"{host}:{shlex.quote(pkg)}"]),
        ("run the accuracy pass and benchmarks", [*ssh, shlex.join(run)]),
        ("fetch the results", [*scp, f"{host}:{shlex.quote(pkg + '/results')}", str(plan.out / INCOMING)]),
    ]


def _run_remote(purpose: str, cmd: list, timeout_s: float, stream: bool = False) -> None:
    if shutil.which(cmd[0]) is None:
        raise BoardUnreachable(f"{cmd[0]} is not installed here (the deployment needs an OpenSSH client)")
    try:
        if stream:  # the remote run's progress goes straight to this terminal
            r = subprocess.run(cmd, timeout=timeout_s, stdin=subprocess.DEVNULL)
        else:
            r = subprocess.run(cmd, timeout=timeout_s, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except subprocess.TimeoutExpired as e:
        rest = cmd[cmd.index("--") + 1:] if "--" in cmd else cmd[-1:]
        where = rest[0] if cmd[0] == "ssh" else next((x for x in rest if ":" in x), rest[-1])
        raise BoardUnreachable(f"{purpose}: no answer within {timeout_s:g} s ({cmd[0]} {where}); "
                               "the board is off, unreachable or hangs") from e
    if r.returncode != 0:
        err = "see its output above" if stream else (" ".join((r.stderr or "").split()) or "(no message)")
        hint = {255: " (ssh could not connect or lost the connection, or the remote command was killed)",
                3: " (no bitfile on the board)",
                4: " (the accelerator failed or timed out)", 2: " (a usage, metadata or data error on the board)",
                -9: " (killed)", -15: " (terminated)", 137: " (killed)", 143: " (terminated)"}.get(r.returncode, "")
        raise BoardUnreachable(f"{purpose} failed (exit status {r.returncode}{hint}): {err}", r.returncode)


#: the results are fetched into this folder of --out and replace results/ only once complete
INCOMING = ".results-incoming"


def deploy_board(target: Target, plan: Plan, run_args: list, remote_dir: str, connect_timeout: int,
                 run_timeout: float, sudo: bool, log=print, remote_python: str | None = None) -> Path:
    """Copy, run, fetch. The previous results/ (and report) here stay until new results have arrived
    whole: a board that fails or stops answering half way loses nothing local."""
    incoming = plan.out / INCOMING
    shutil.rmtree(incoming, ignore_errors=True)
    for purpose, cmd in remote_commands(target, plan, remote_dir, run_args, connect_timeout, sudo, remote_python):
        log(f"[deploy] {purpose}: {shlex.join(cmd)}")
        long = purpose.startswith("run")
        deadline = run_timeout if long else connect_timeout + (10 if purpose.startswith("check") else 300)
        try:
            _run_remote(purpose, cmd, deadline, stream=long)
        except BoardUnreachable as e:
            shutil.rmtree(incoming, ignore_errors=True)
            if purpose.startswith("make room") and e.returncode == REFUSED_RC:
                raise MetadataError(f"--remote-dir {remote_dir} on {target}: {str(e).split(': ', 1)[-1]}; "
                                    "refusing to delete it: pass a new folder, or an empty one") from e
            raise
    if not (incoming / "results.json").is_file() or not (incoming / "frames.npz").is_file():
        shutil.rmtree(incoming, ignore_errors=True)
        raise BoardUnreachable(f"the results fetched from {target} lack results.json or frames.npz")
    results = plan.out / "results"
    old = plan.out / ".results-previous"
    shutil.rmtree(old, ignore_errors=True)
    if results.exists():
        results.rename(old)
    incoming.rename(results)
    shutil.rmtree(old, ignore_errors=True)
    return results


# ---- the command line ---------------------------------------------------------------------------
def run_args_for(a, emulated: bool, rtlsim: bool = False) -> list:
    """driver.run's options. Emulation (slow: tens of frames/s) defaults to one frame per (class, SNR)
    and small batches; the RTL simulation to the whole split in large batches, like a board."""
    if rtlsim:
        d = {"bench": "1,16,256,1024", "repeats": 1, "latency": 3, "batch": 1024, "timeout": 3600}
    elif emulated:
        d = {"bench": "1,2,4,8", "repeats": 1, "latency": 3, "batch": 8, "timeout": 600}
    else:
        d = {"bench": "1,16,256,1024,4096", "repeats": 5, "latency": 200, "batch": 256, "timeout": 10}
    per_block = a.per_block if a.per_block is not None else (1 if emulated and not rtlsim else None)
    out = []
    if per_block is not None:
        out += ["--per-block", str(per_block)]
    if a.snrs:
        out += ["--snrs", a.snrs]
    if a.limit:
        out += ["--limit", str(a.limit)]
    bench = a.bench_batch_sizes if a.bench_batch_sizes is not None else d["bench"]
    out += ["--bench-batch-sizes", bench]
    out += ["--bench-repeats", str(a.bench_repeats if a.bench_repeats is not None else d["repeats"])]
    out += ["--latency-repeats", str(a.latency_repeats if a.latency_repeats is not None else d["latency"])]
    out += ["--batch-size", str(a.batch_size if a.batch_size is not None else d["batch"])]
    out += ["--timeout-s", str(a.timeout_s if a.timeout_s is not None else d["timeout"])]
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m driver.deploy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="run folder (runs/<name>/) or .onnx")
    ap.add_argument("--board", default=EMULATE,
                    help="[user@]host[:port] of the PYNQ board, 'emulate' or 'rtlsim' (the verilated RTL)")
    ap.add_argument("--build", default=None, help="build folder (default hw/builds/<name>-<board type>)")
    ap.add_argument("--data", default=None, help="RadioML .h5 here (default: the run's data.json path)")
    ap.add_argument("--board-data", default=None, help="path of the RadioML .h5 on the board (default: --data)")
    ap.add_argument("--out", default=None, help="output folder (default hw/deploy/<name>-<board type>-<board|emulation>)")
    ap.add_argument("--per-block", type=int, default=None, help="first K frames per (class, SNR); emulation default 1")
    ap.add_argument("--snrs", default=None, help="only these SNRs (dB), comma-separated")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--bench-batch-sizes", default=None)
    ap.add_argument("--bench-repeats", type=int, default=None)
    ap.add_argument("--latency-repeats", type=int, default=None)
    ap.add_argument("--timeout-s", type=float, default=None, help="deadline for one batch")
    ap.add_argument("--compile-python", default=None, help="emulation: Python of the compile environment")
    ap.add_argument("--remote-dir", default="/home/xilinx/amc-fpga-deploy",
                    help="folder on the board for the package and results (letters, digits, . _ / + -); deleted "
                         f"and rewritten by each deployment, so only a new or empty folder, or one a deployment "
                         f"made and marked ({REMOTE_MARK}), is accepted")
    ap.add_argument("--remote-python", default=None,
                    help="board: the Python that runs the driver there (default: python3 of the board's PYNQ "
                         "environment); it needs numpy < 2, h5py and finn-plus-driver")
    ap.add_argument("--remote-backend", choices=["board", "emulation"], default="board",
                    help="board: the accelerator on the board's FPGA. emulation: the emulator runs it on the "
                         "remote machine instead, with this machine's paths for the build, the repository and "
                         "the compile environment (--compile-python): the ssh path tested end to end against a "
                         "machine without an FPGA (this one, or a copy of it); its report says EMULATION")
    ap.add_argument("--connect-timeout", type=int, default=10, help="ssh ConnectTimeout (s)")
    ap.add_argument("--run-timeout", type=float, default=6 * 3600, help="deadline of the remote run (s)")
    ap.add_argument("--no-sudo", action="store_true", help="run on the board without sudo (pynq needs root)")
    return ap


@amc_cli.command
def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    from . import report as rpt
    from . import run as target_run

    log = lambda m: print(m, flush=True)  # noqa: E731
    target = Target.parse(a.board)
    check_args(a)
    if not target.emulated:
        check_remote_dir(a.remote_dir)
    plan = make_plan(a.model, target, a.build, a.data, a.out)
    remote_emulated = not target.emulated and a.remote_backend == "emulation"
    if not target.emulated and not remote_emulated and plan.bitfile is None:
        raise BitfileMissing(f"cannot deploy {plan.name} on {target}: {plan.bitfile_problem}")
    if target.emulated or plan.data.exists():
        plan.notes += check_run_data(plan, explicit=a.data is not None)
    else:  # a board deployment whose data file is on the board only
        plan.notes.append(f"{plan.data} is not here: the board checks its file {a.board_data or plan.data} "
                          "against the run's labels and SNRs before running")
    check_out_dir(plan.out, (plan.run_dir, plan.model_onnx, plan.build, plan.data))
    plan.out.mkdir(parents=True, exist_ok=True)
    pkg = assemble_package(plan)
    run_args = run_args_for(a, target.emulated, target.rtlsim)
    board_data = a.board_data or str(Path(plan.data).resolve())
    if remote_emulated:
        remote_run = ["--data", board_data, *run_args_for(a, True), "--backend", "emulation",
                      "--build", str(plan.build.resolve()), "--compile-repo", str(REPO),
                      "--compile-python", a.compile_python or _default_compile_python()]
    else:
        remote_run = ["--data", board_data, *run_args_for(a, False)]
    if target.emulated:
        log(f"[deploy] no board given ({'BOARD=' + target.board_type + ' is a board type, not a host; ' if target.board_type else ''}"
            "BOARD=<user@host> deploys on one). On a board this would run:")
        for purpose, cmd in remote_commands(Target(), plan, a.remote_dir, remote_run, a.connect_timeout,
                                            not a.no_sudo, a.remote_python):
            log(f"    # {purpose}\n    {shlex.join(cmd)}")
        if plan.bitfile is None:
            log(f"[deploy] NOTE: {plan.bitfile_problem}")
        for n in plan.notes:
            log(f"[deploy] NOTE: {n}")
        how = ("its stitched RTL simulated with Verilator" if target.rtlsim
               else "executed in software (finn-plus, compile environment)")
        log(f"[deploy] running the {'RTL-SIMULATED' if target.rtlsim else 'EMULATED'} deployment instead: "
            f"package {pkg}, accelerator of {plan.build} {how}")
        results = plan.out / "results"
        args = target_run.build_parser().parse_args(
            ["--package", str(pkg), "--data", str(plan.data), "--out", str(results), "--backend", target.backend,
             "--build", str(plan.build), *run_args]
            + (["--compile-python", a.compile_python] if a.compile_python else []))
        target_run.run(args)
    else:
        t0 = time.time()
        for n in plan.notes:
            log(f"[deploy] NOTE: {n}")
        results = deploy_board(target, plan, remote_run, a.remote_dir, a.connect_timeout, a.run_timeout,
                               not a.no_sudo, log, a.remote_python)
        log(f"[deploy] board run finished in {time.time() - t0:.0f} s")
    classes = read_json(plan.io_json).get("classes") if plan.io_json else None
    rep = rpt.write_report(plan.out, results, plan.predictions, plan.build / "report.json", plan.cost, classes)
    c = rep["comparison"]
    agree = f", agreement with software {c['agreement']:.2%}" if "agreement" in c else ""
    log(f"[deploy] {rpt.TAGS.get(rep['backend'], 'EMULATION')}: accuracy {c['hw_accuracy']:.2%} on "
        f"{c['frames']} frames{agree}; report {plan.out / 'report.md'}")
    if "agreement" in c and c["agreement"] < 1.0:
        if c["consistent"]:
            log(f"[deploy] {c['ties']} frame(s) differ only on exact ties of the software logits (float rounding)")
        else:
            raise amc_cli.ConstraintMissed(
                "the accelerator disagrees with the software model on "
                f"{c['disagreements_total'] - c['ties']} frame(s) beyond float ties; report {plan.out / 'report.md'}")
    return 0


def _default_compile_python() -> str:
    from .emulation import default_compile_python

    return default_compile_python(REPO)


def check_args(a) -> None:
    """The numeric options, before anything is packaged or started: one line naming the option."""
    from .frontend import DataError
    from .run import int_list

    for name, minimum in (("per_block", 1), ("limit", 1), ("batch_size", 1), ("bench_repeats", 0),
                          ("latency_repeats", 0), ("connect_timeout", 1)):
        v = getattr(a, name)
        if v is not None and v < minimum:
            raise DataError(f"--{name.replace('_', '-')} {v}: must be at least {minimum}")
    for name in ("timeout_s", "run_timeout"):
        v = getattr(a, name)
        if v is not None and not v > 0:
            raise DataError(f"--{name.replace('_', '-')} {v}: must be a positive number of seconds")
    int_list(a.snrs, "--snrs")
    int_list(a.bench_batch_sizes, "--bench-batch-sizes", 1)


if __name__ == "__main__":
    sys.exit(main())

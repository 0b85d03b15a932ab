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

Exit status: 0 done, 2 usage/metadata/data error, 3 no bitfile for a board, 4 the accelerator or
emulator failed, 5 the board did not answer or the remote run failed.
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

from .board import find_bitfile
from .meta import BitfileMissing, MetadataError, ModelIO

REPO = Path(__file__).resolve().parents[1]
EMULATE = "emulate"
RTLSIM = "rtlsim"


class BoardUnreachable(RuntimeError):
    """ssh/scp to the board failed or timed out; the message has ssh's own words."""


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
        m = re.fullmatch(r"((?:[^@\s:]+@)?(?:\[[0-9a-fA-F:]+\]|[^@\s:\[\]]+))(?::(\d+))?", t)
        if not m:
            raise MetadataError(f"BOARD={t!r} is not [user@]host[:port], '{EMULATE}' or a board type")
        return cls(host=m.group(1), port=int(m.group(2)) if m.group(2) else None)

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


def _board_type_of(build: Path) -> str:
    rep = build / "report.json"
    if rep.is_file():
        return json.loads(rep.read_text())["board"]["name"]
    return build.name.rsplit("-", 1)[-1]


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
    io_json = run_dir / "io.json" if (run_dir / "io.json").is_file() else None
    preds = run_dir / "predictions.npz" if (run_dir / "predictions.npz").is_file() else None
    cost = run_dir / "cost.json" if (run_dir / "cost.json").is_file() else None
    if data is None:
        dj = run_dir / "data.json"
        if dj.is_file() and json.loads(dj.read_text()).get("path"):
            data = json.loads(dj.read_text())["path"]
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
    if pkg.exists():
        shutil.rmtree(pkg)
    meta = pkg / "meta"
    meta.mkdir(parents=True)
    shutil.copy2(plan.build / "accelerator.json", meta / "accelerator.json")
    for src, dst in ((plan.io_json, "io.json"), (plan.build / "report.json", "report.json"), (plan.cost, "cost.json")):
        if src is not None and Path(src).is_file():
            shutil.copy2(src, meta / dst)
    # check now that the artefacts fit together (not on the board, minutes later)
    ModelIO.load(meta / "accelerator.json", meta / "io.json" if (meta / "io.json").is_file() else None)
    if plan.predictions is not None:
        d = np.load(plan.predictions)
        np.savez_compressed(meta / "frames.npz", index=d["index"], label=d["label"], snr_db=d["snr_db"])
    if plan.bitfile is not None:
        (pkg / "bitfile").mkdir()
        shutil.copy2(plan.bitfile, pkg / "bitfile" / plan.bitfile.name)
        shutil.copy2(plan.bitfile.with_suffix(".hwh"), pkg / "bitfile" / plan.bitfile.with_suffix(".hwh").name)
        shutil.copytree(plan.settings.parent, pkg / "driver")
    (meta / "deploy.json").write_text(json.dumps({
        "name": f"{plan.name}-{plan.board_type}", "model": str(plan.model_onnx), "build": str(plan.build),
        "board_type": plan.board_type, "bitfile": str(plan.bitfile) if plan.bitfile else None}, indent=2) + "\n")
    code = pkg / "code" / "driver"
    code.mkdir(parents=True)
    for f in sorted((REPO / "driver").glob("*.py")):
        shutil.copy2(f, code / f.name)
    (pkg / "run.sh").write_text(RUN_SH)
    (pkg / "run.sh").chmod(0o755)
    return pkg


RUN_SH = """#!/bin/bash
# On the board: the PYNQ image's Python environment, then the driver on this package.
set -e
cd "$(dirname "$0")"
for f in /etc/profile.d/pynq_venv.sh /etc/profile.d/xrt_setup.sh; do [ -f "$f" ] && source "$f"; done
python3 -c "import finn_plus_driver, pynq" 2>/dev/null || {
    echo "error: finn-plus-driver or pynq is missing on the board: pip install finn-plus-driver==1.6.1" \\
         "(in the PYNQ environment)" >&2; exit 2; }
export PYTHONPATH="$PWD/code${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m driver.run --backend board --package "$PWD" --out "$PWD/results" "$@"
"""


# ---- the board side: ssh and scp with deadlines -------------------------------------------------
def ssh_options(connect_timeout: int, port: int | None, scp: bool = False) -> list:
    opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}", "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4", "-o", "StrictHostKeyChecking=accept-new"]
    if port:
        opts += ["-P" if scp else "-p", str(port)]
    return opts


def remote_commands(target: Target, plan: Plan, remote_dir: str, run_args: list, connect_timeout: int,
                    sudo: bool = True) -> list:
    """The commands of a board deployment, in order: (purpose, argv)."""
    host = target.host or "<user@board>"
    ssh = ["ssh", *ssh_options(connect_timeout, target.port)]
    scp = ["scp", "-q", "-r", *ssh_options(connect_timeout, target.port, scp=True)]
    run = (["sudo", "-n"] if sudo else []) + ["bash", f"{remote_dir}/run.sh", *run_args]
    return [
        ("check the board answers", [*ssh, host, "true"]),
        ("make room on the board", [*ssh, host, f"rm -rf {shlex.quote(remote_dir)} && mkdir -p "
                                              f"{shlex.quote(str(Path(remote_dir).parent))}"]),
        ("copy the deployment package", [*scp, str(plan.out / "package"), f"{host}:{remote_dir}"]),
        ("run the accuracy pass and benchmarks", [*ssh, host, shlex.join(run)]),
        ("fetch the results", [*scp, f"{host}:{remote_dir}/results", str(plan.out)]),
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
        raise BoardUnreachable(f"{purpose}: no answer within {timeout_s:g} s ({shlex.join(cmd[:1] + cmd[-2:])}); "
                               "the board is off, unreachable or hangs") from e
    if r.returncode != 0:
        err = "see its output above" if stream else ((r.stderr or "").strip() or "(no message)")
        hint = {255: " (ssh could not connect or lost the connection)", 3: " (no bitfile on the board)",
                4: " (the accelerator failed or timed out)"}.get(r.returncode, "")
        raise BoardUnreachable(f"{purpose} failed (exit status {r.returncode}{hint}): {err}")


def deploy_board(target: Target, plan: Plan, run_args: list, remote_dir: str, connect_timeout: int,
                 run_timeout: float, sudo: bool, log=print) -> Path:
    shutil.rmtree(plan.out / "results", ignore_errors=True)
    for purpose, cmd in remote_commands(target, plan, remote_dir, run_args, connect_timeout, sudo):
        log(f"[deploy] {purpose}: {shlex.join(cmd)}")
        long = purpose.startswith("run")
        deadline = run_timeout if long else connect_timeout + (10 if purpose.startswith("check") else 300)
        _run_remote(purpose, cmd, deadline, stream=long)
    return plan.out / "results"


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
    ap.add_argument("--remote-dir", default="/home/xilinx/amc-fpga-deploy")
    ap.add_argument("--connect-timeout", type=int, default=10, help="ssh ConnectTimeout (s)")
    ap.add_argument("--run-timeout", type=float, default=6 * 3600, help="deadline of the remote run (s)")
    ap.add_argument("--no-sudo", action="store_true", help="run on the board without sudo (pynq needs root)")
    return ap


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    from . import report as rpt
    from . import run as target_run
    from .board import AcceleratorTimeout
    from .emulation import EmulatorError
    from .frontend import DataError

    log = lambda m: print(m, flush=True)  # noqa: E731
    try:
        target = Target.parse(a.board)
        plan = make_plan(a.model, target, a.build, a.data, a.out)
        if not target.emulated and plan.bitfile is None:
            raise BitfileMissing(f"cannot deploy {plan.name} on {target}: {plan.bitfile_problem}")
        plan.out.mkdir(parents=True, exist_ok=True)
        pkg = assemble_package(plan)
        run_args = run_args_for(a, target.emulated, target.rtlsim)
        board_data = a.board_data or str(plan.data)
        remote_run = ["--data", board_data, *run_args_for(a, False)]
        if target.emulated:
            log(f"[deploy] no board given ({'BOARD=' + target.board_type + ' is a board type, not a host; ' if target.board_type else ''}"
                "BOARD=<user@host> deploys on one). On a board this would run:")
            for purpose, cmd in remote_commands(Target(), plan, a.remote_dir, remote_run, a.connect_timeout,
                                                not a.no_sudo):
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
            results = deploy_board(target, plan, remote_run, a.remote_dir, a.connect_timeout, a.run_timeout,
                                   not a.no_sudo, log)
            log(f"[deploy] board run finished in {time.time() - t0:.0f} s")
        classes = json.loads(plan.io_json.read_text()).get("classes") if plan.io_json else None
        rep = rpt.write_report(plan.out, results, plan.predictions, plan.build / "report.json", plan.cost, classes)
        c = rep["comparison"]
        agree = f", agreement with software {c['agreement']:.2%}" if "agreement" in c else ""
        log(f"[deploy] {rpt.TAGS.get(rep['backend'], 'EMULATION')}: accuracy {c['hw_accuracy']:.2%} on "
            f"{c['frames']} frames{agree}; report {plan.out / 'report.md'}")
        if "agreement" in c and c["agreement"] < 1.0:
            if c["consistent"]:
                log(f"[deploy] {c['ties']} frame(s) differ only on exact ties of the software logits (float rounding)")
            else:
                log("[deploy] ERROR: the accelerator disagrees with the software model on "
                    f"{c['disagreements_total'] - c['ties']} frame(s) beyond float ties")
                return 1
    except BitfileMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (MetadataError, DataError, rpt.ReportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (AcceleratorTimeout, EmulatorError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 4
    except BoardUnreachable as e:
        print(f"error: {e}", file=sys.stderr)
        return 5
    return 0


if __name__ == "__main__":
    sys.exit(main())

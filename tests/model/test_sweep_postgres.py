"""A sweep shared by two workers through a real PostgreSQL server, one of them killed mid-trial.

The test starts its own PostgreSQL (Debian's `postgresql` package: initdb and postgres, from PATH or
/usr/lib/postgresql/<version>/bin) in a temporary folder, listening on 127.0.0.1 on a free port only (its
unix socket in that folder too, trust authentication), and makes one database. Two workers, "machine a"
and "machine b" (each its own --out folder, as on two machines without a shared disk), run
`python -m model.sweep run` on one spec and that database. Machine a is killed (SIGKILL, its whole
process group) in the middle of its first trial; machine b goes on, and once machine a's trial has been
silent for the grace period (shortened here through $AMC_SWEEP_HEARTBEAT_S and $AMC_SWEEP_GRACE_S) the
trial is failed and queued again, and the next trial a worker starts is its retry. Machine a then comes
back and runs the same command. At the end every grid point is complete exactly once, the killed trial is
FAIL with exactly one retry, nothing is RUNNING or WAITING, and the table has one row per point.

initdb refuses to run as root: as root the server runs as the `postgres` system user (else `nobody`), in a
folder of its own under the temporary directory (pytest's folders are private to root).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from amc_cli.paths import REPO_ROOT
from loopback import free_port, loopback_server

ROOT = REPO_ROOT
GRID = [2, 3, 4, 5, 6, 7]  # net.args.w_bits: six points, so the surviving worker still has work after the grace
HEARTBEAT_S, GRACE_S = 1, 5


def _pg_bindir() -> Path | None:
    """The folder of initdb and postgres: PATH's initdb (through its links), else Debian's newest."""
    found = shutil.which("initdb")
    if found is None:
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                          key=lambda p: [int(x) for x in Path(p).parts[-3].split(".") if x.isdigit()])
        found = versions[-1] if versions else None
    if found is None:
        return None
    bindir = Path(found).resolve().parent
    return bindir if (bindir / "postgres").exists() else None


def _server_user() -> dict:
    """subprocess arguments that run the server as a non-root user (initdb refuses root), or none."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    pytest.skip("running as root and there is no `postgres` or `nobody` user to run PostgreSQL as")


def _reachable_by_all(folder: Path) -> bool:
    """Whether any user may enter `folder` (it and every folder above it are world-executable)."""
    folder = folder.resolve()
    return folder.is_dir() and all(os.stat(d).st_mode & 0o001 for d in (folder, *folder.parents))


@pytest.fixture
def postgres(tmp_path):
    """A PostgreSQL server on 127.0.0.1:<free port> with an empty database `sweeps`; its SQLAlchemy URL."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server here: initdb is neither on PATH nor in /usr/lib/postgresql/*/bin "
                    "(Debian: apt-get install postgresql; .ci/run installs it)")
    psycopg = pytest.importorskip("psycopg", reason="no PostgreSQL driver for SQLAlchemy: pip install -e .[model]")
    as_user = _server_user()
    if as_user:  # the server's user cannot enter pytest's root-only folders: a folder of its own in /tmp
        parent = next((d for d in (tempfile.gettempdir(), "/tmp", "/var/tmp") if _reachable_by_all(Path(d))), None)
        if parent is None:
            pytest.skip("running as root, and no temporary folder the server's user may enter")
        home = Path(tempfile.mkdtemp(prefix="amc-sweep-pg-", dir=parent))
        os.chown(home, as_user["user"], as_user["group"])
    else:
        home = tmp_path / "pg"
        home.mkdir()
    data = home / "data"
    try:
        init = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "sweep", "--auth=trust", "--no-locale",
                               "-E", "UTF8", "--no-sync"], cwd=home, capture_output=True, text=True, timeout=120,
                              **as_user)
        if init.returncode != 0:
            pytest.fail(f"initdb failed: {(init.stderr or init.stdout)[-800:]}")
        port = free_port()

        def make_database() -> bool:
            with psycopg.connect(host="127.0.0.1", port=port, user="sweep", dbname="postgres", autocommit=True,
                                 connect_timeout=2) as conn:
                conn.execute("CREATE DATABASE sweeps")
            return True

        with loopback_server(
                [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
                 "-c", f"unix_socket_directories={home}", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "shared_buffers=16MB"],
                tmp_path / "postgres.log", make_database, name="postgres", not_yet=(psycopg.OperationalError,),
                stop_signal=signal.SIGINT,  # fast shutdown: disconnects clients, stops at once
                cwd=home, **as_user):
            yield f"postgresql+psycopg://sweep@127.0.0.1:{port}/sweeps"
    finally:
        shutil.rmtree(home, ignore_errors=True)


def label(w_bits: int) -> str:
    return f"net.args.w_bits={w_bits}"


def params(w_bits: int) -> dict:
    return {"net.args.w_bits": GRID.index(w_bits)}  # Optuna holds the grid's indices


def worker(spec: Path, out: Path, storage: str, log: Path, *command: str) -> subprocess.Popen:
    """`python -m model.sweep <command> ...` as its own process group (so a kill reaches all of it)."""
    env = {**os.environ, "AMC_SWEEP_HEARTBEAT_S": str(HEARTBEAT_S), "AMC_SWEEP_GRACE_S": str(GRACE_S)}
    command = command or ("run", "--quiet")
    with open(log, "w") as out_file:
        return subprocess.Popen([sys.executable, "-m", "model.sweep", command[0], str(spec), "--out", str(out),
                                 "--storage", storage, *command[1:]], cwd=ROOT, env=env, stdout=out_file,
                                stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen, log: Path, timeout: float) -> str:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        pytest.fail(f"{' '.join(proc.args[2:5])} still running after {timeout} s:\n{log.read_text()[-2000:]}")
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    return text


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_two_workers_share_a_postgres_study_and_a_killed_workers_trial_is_retried_once(postgres, toy_h5, tmp_path):
    import optuna

    spec = tmp_path / "shared.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "pg-shared",
        "set": {"data.path": str(toy_h5), "data.synthetic_frames_per_block": None,
                "data.cache_dir": str(tmp_path / "cache"), "train.epochs": 1, "train.max_frames_per_epoch": 256,
                "train.batch_size": 128, "train.threads": 1, "net.args.channels": [4, 8, 8, 8]},
        "base": "model/recipes/demo.yaml",
        "grid": {"net.args.w_bits": GRID},
    }))
    a_out, b_out = tmp_path / "machine-a", tmp_path / "machine-b"
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b", "a-again", "report")}
    a = worker(spec, a_out, postgres, logs["a"])
    b = worker(spec, b_out, postgres, logs["b"])
    try:
        # machine a is killed as soon as its first trial has started (its run folder exists: the trial is
        # RUNNING in the study and its heartbeat is recorded)
        deadline = time.monotonic() + 90
        while not (a_out / "trials").is_dir() or not any((a_out / "trials").iterdir()):
            assert a.poll() is None, f"machine a exited before its first trial:\n{logs['a'].read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"machine a started no trial in 90 s:\n{logs['a'].read_text()[-3000:]}"
            time.sleep(0.05)
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(10)
        killed_at = time.monotonic()
        [killed_label] = [p.name for p in (a_out / "trials").iterdir()]
        killed_w = next(w for w in GRID if label(w) == killed_label)
        study = optuna.load_study(study_name="pg-shared", storage=postgres)
        held = [t for t in study.get_trials(deepcopy=False) if t.params == params(killed_w)]
        assert [t.state for t in held] == [optuna.trial.TrialState.RUNNING], (  # the dead worker's, until stale
            [(t.number, t.state.name, t.params) for t in study.get_trials(deepcopy=False)],
            logs["a"].read_text()[-3000:], logs["b"].read_text()[-3000:])
        left = held[0]
        finish(b, logs["b"], timeout=150)
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    # machine a comes back after the grace period and runs the same command: it retries the dead trial
    # if machine b left it, else it finds every point done and runs nothing
    time.sleep(max(0.0, killed_at + GRACE_S + 1 - time.monotonic()))
    again = finish(worker(spec, a_out, postgres, logs["a-again"]), logs["a-again"], timeout=90)
    finish(worker(spec, a_out, postgres, logs["report"], "report"), logs["report"], timeout=60)

    state = optuna.trial.TrialState
    trials = optuna.load_study(study_name="pg-shared", storage=postgres).get_trials(deepcopy=False)
    summary = [(t.number, t.state.name, label(GRID[t.params["net.args.w_bits"]]) if t.params else None,
                t.system_attrs.get("failed_trial")) for t in trials]
    print(f"killed {killed_label} (trial {left.number}); trials (number, state, point, retry of):", *summary, sep="\n  ")
    why = "\n".join([str(summary)] + [f"--- {name}.log\n{logs[name].read_text()[-2000:]}" for name in ("b", "a-again")])
    complete = [t for t in trials if t.state == state.COMPLETE]
    assert sorted(t.params["net.args.w_bits"] for t in complete) == list(range(len(GRID))), why  # each point once
    assert not [t for t in trials if t.state in (state.RUNNING, state.WAITING)], why
    assert [t.number for t in trials if t.state == state.FAIL] == [left.number], why  # the killed trial alone
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == left.number]
    assert [(t.state, t.params) for t in retries] == [(state.COMPLETE, params(killed_w))], why  # retried once
    done = {t.params["net.args.w_bits"] for t in complete}
    assert all(t.params["net.args.w_bits"] in done for t in trials if t.state == state.PRUNED), why
    rows = json.loads((a_out / "results.json").read_text())
    assert sorted(r["trial"] for r in rows) == sorted(label(w) for w in GRID)
    killed_row = next(r for r in rows if r["trial"] == killed_label)
    retried_in = "machine-a" if Path(killed_row["run"]).is_relative_to(a_out) else "machine-b"
    print(f"the retry ran on {retried_in}; machine a's rerun: {again.strip().splitlines()[-1]}")

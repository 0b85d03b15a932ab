"""The board path over a real OpenSSH server on the loopback interface.

The test starts its own sshd (Debian's openssh-server: `sshd -D` with a config, host key and
authorized key made in a temporary folder, listening on 127.0.0.1 only, root login by key only). The
"board" is this machine: the deployment is copied there with scp, run there with ssh (run.sh with the
driver environment's Python, `--remote-backend emulation`: the build's accelerator in the emulator
instead of an FPGA), and the results are fetched back. ssh and scp are the system's own, reached through
two wrappers that only add `-F <the test's client config>` (key, known-hosts file), so nothing of the
user's ~/.ssh is read or written.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import compile_python
from driver import deploy
from loopback import accepts_connections, free_port, loopback_server

SSHD = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if Path(p).exists()), None)


def _children() -> dict:
    """pid -> parent pid, from /proc."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def descendants(pid: int) -> list:
    """The processes `pid` started, directly or not (the server's sessions and what they run)."""
    ppid = _children()
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in ppid.items() if pp == p]
        found += kids
        todo += kids
    return found


def _signal(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """An OpenSSH server on 127.0.0.1:<free port>, and PATH wrappers for ssh/scp that use its key."""
    if SSHD is None:
        pytest.skip("no sshd on this machine (Debian: apt-get install openssh-server; .ci/run installs it)")
    if os.geteuid() != 0:
        pytest.skip("the ssh test logs in as root with a test key (sshd's per-user checks need root)")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True, timeout=30)
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    port = free_port()
    (d / "sshd_config").write_text(
        f"HostKey {d / 'host_key'}\nAuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\nPidFile none\n"
        "Subsystem sftp internal-sftp\n")
    (d / "ssh_config").write_text(
        f"Host *\n  IdentityFile {d / 'client_key'}\n  IdentitiesOnly yes\n  UserKnownHostsFile {d / 'known_hosts'}\n"
        "  GlobalKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    bindir = d / "bin"
    bindir.mkdir()
    for tool in ("ssh", "scp"):
        real = shutil.which(tool)
        if real is None:
            pytest.skip(f"no {tool} client on this machine")
        (bindir / tool).write_text(f"#!/bin/sh\nexec {real} -F {d / 'ssh_config'} \"$@\"\n")
        (bindir / tool).chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
    rest = []
    with loopback_server([SSHD, "-D", "-e", "-f", str(d / "sshd_config"), "-p", str(port),
                          "-o", "ListenAddress=127.0.0.1"], d / "sshd.log", lambda: accepts_connections(port),
                         name="sshd", timeout_s=15, on_early_exit=pytest.skip) as proc:
        try:
            yield {"port": port, "dir": d, "bin": bindir, "pid": proc.pid, "log": d / "sshd.log"}
        finally:
            rest = descendants(proc.pid)  # sessions a test froze: thawed to let sshd stop, then killed
            _signal(rest, signal.SIGCONT)
    _signal(rest, signal.SIGKILL)


@pytest.fixture
def ssh_path(sshd, monkeypatch):
    monkeypatch.setenv("PATH", f"{sshd['bin']}{os.pathsep}{os.environ['PATH']}")
    return sshd


def board_args(run, build, out, remote_dir, sshd, *extra):
    return [str(run), "--board", f"root@127.0.0.1:{sshd['port']}", "--build", str(build), "--out", str(out),
            "--remote-dir", str(remote_dir), "--remote-backend", "emulation", "--remote-python", sys.executable,
            "--compile-python", compile_python(), "--no-sudo", "--connect-timeout", "5", "--snrs", "30",
            "--bench-batch-sizes", "1", "--latency-repeats", "1", "--batch-size", "8", *extra]


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "package" not in p.relative_to(folder).parts}


@pytest.fixture(scope="module")
def deployed(sshd, fixture_run, tiny_build, tmp_path_factory):
    """One whole deployment over ssh: (out, remote dir, printed output, seconds)."""
    base = tmp_path_factory.mktemp("ssh-deploy")
    out, remote = base / "out", base / "board" / "amc-deploy"
    mp = pytest.MonkeyPatch()
    mp.setenv("PATH", f"{sshd['bin']}{os.pathsep}{os.environ['PATH']}")
    try:
        t0 = time.monotonic()
        rc = deploy.main(board_args(fixture_run, tiny_build, out, remote, sshd, "--run-timeout", "300"))
        secs = time.monotonic() - t0
    finally:
        mp.undo()
    assert rc == 0, sshd["log"].read_text()[-2000:]
    return out, remote, secs


def test_deployment_over_ssh_end_to_end(deployed, fixture_run, capsys):
    out, remote, secs = deployed
    # on the "board": the marked folder, the package copied whole, the results written there
    assert (remote / deploy.REMOTE_MARK).read_text().startswith(deploy.REMOTE_MARK_TEXT)
    for f in ("run.sh", "meta/frames.npz", "meta/accelerator.json", "code/driver/run.py", "results/results.json"):
        assert (remote / "package" / f).is_file(), f
    # fetched back here, and the report written from them
    res = json.loads((out / "results" / "results.json").read_text())
    assert res["backend"] == "emulation" and res["data"].endswith("toy.h5")
    assert res["backend_info"]["build"] and res["frames"]["count"] == 24
    assert (out / "results" / "frames.npz").read_bytes() == (remote / "package" / "results" / "frames.npz").read_bytes()
    rep = json.loads((out / "report.json").read_text())
    c = rep["comparison"]
    assert c["frames"] == 24 and c["agreement"] == 1.0
    sw = np.load(fixture_run / "predictions.npz")
    hw = np.load(out / "results" / "frames.npz")
    k = np.searchsorted(sw["index"], hw["index"])
    assert np.array_equal(sw["predicted"][k], hw["predicted"])
    assert (out / "report.md").read_text().startswith("# Deploy report: tiny_vgg-zcu104 (EMULATION)")
    assert not (out / deploy.INCOMING).exists()
    print(f"ssh deployment end to end: {secs:.1f} s")


def test_every_ssh_and_scp_call_ends_its_options_before_the_host(fixture_run, tiny_build, tmp_path):
    plan = deploy.make_plan(str(fixture_run), deploy.Target.parse("root@127.0.0.1:2222"), str(tiny_build), None,
                            str(tmp_path / "o"))
    cmds = deploy.remote_commands(deploy.Target.parse("root@127.0.0.1:2222"), plan, "/tmp/d", ["--x"], 5, False)
    for purpose, cmd in cmds:
        i = cmd.index("--")
        assert all(not a.startswith("root@") for a in cmd[:i]), purpose
        assert any(a.startswith("root@127.0.0.1") for a in cmd[i + 1:]), purpose
    assert cmds[2][1][-1] == "root@127.0.0.1:/tmp/d/package"
    assert cmds[4][1][-2] == "root@127.0.0.1:/tmp/d/package/results"
    v6 = deploy.remote_commands(deploy.Target.parse("root@[::1]:2222"), plan, "/tmp/d", [], 5, False)
    assert v6[0][1][-2:] == ["root@::1", "true"] and v6[2][1][-1] == "root@[::1]:/tmp/d/package"


def test_a_folder_no_deployment_made_is_never_deleted_on_the_board(ssh_path, fixture_run, tiny_build, tmp_path, capsys):
    mine = tmp_path / "board" / "my-files"
    mine.mkdir(parents=True)
    (mine / "thesis.tex").write_text("years of work")
    rc = deploy.main(board_args(fixture_run, tiny_build, tmp_path / "o", mine, ssh_path))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "was not made by a deployment" in err and "refusing to delete it" in err and len(err.splitlines()) == 1
    assert (mine / "thesis.tex").read_text() == "years of work" and sorted(os.listdir(mine)) == ["thesis.tex"]
    # a symlink to it is refused too (rm -rf would not follow it, but the copy would write through it)
    link = tmp_path / "board" / "link"
    link.symlink_to(mine)
    assert deploy.main(board_args(fixture_run, tiny_build, tmp_path / "o", link, ssh_path)) == 2
    assert sorted(os.listdir(mine)) == ["thesis.tex"]


def _wait_for_remote_run(remote: Path, timeout: float = 120) -> list:
    """pids of the remote driver.run (the python run.sh execs) once it runs in `remote`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    cmd = (d / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"driver.run" in cmd and f"{remote}/package".encode() in cmd:
                    pids.append(int(d.name))
        if pids:
            return pids
        time.sleep(0.05)
    return []


@pytest.mark.parametrize("how", ["board stops answering", "remote process killed"])
def test_a_board_that_fails_mid_run_is_an_error_within_the_deadline_and_loses_nothing_here(
        deployed, sshd, ssh_path, fixture_run, tiny_build, capsys, how):
    out, remote, _ = deployed
    before = _snapshot(out)
    assert "report.md" in before and "results/frames.npz" in before
    seen = {}

    def strike():
        pids = _wait_for_remote_run(remote)
        seen["pids"] = pids
        if not pids:
            return
        # at once: the run of the tiny build's 24 frames can end within a second of starting
        if how == "remote process killed":
            _signal(pids, signal.SIGKILL)
        else:  # every process of the server freezes: sessions, the remote run, its emulator
            seen["frozen"] = descendants(sshd["pid"])
            _signal(seen["frozen"], signal.SIGSTOP)

    th = threading.Thread(target=strike, daemon=True)
    th.start()
    deadline = 20
    t0 = time.monotonic()
    try:
        rc = deploy.main(board_args(fixture_run, tiny_build, out, remote, sshd, "--run-timeout", str(deadline)))
    finally:
        th.join(130)
        _signal(seen.get("frozen", []), signal.SIGKILL)
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert seen.get("pids"), "the remote run never started"
    assert rc == 5, err
    last = err.strip().splitlines()[-1]
    print(f"{how}: {took:.1f} s: {last}")
    assert last.startswith("error: run the accuracy pass and benchmarks")
    if how == "remote process killed":
        assert "failed (exit status" in last
    else:
        assert f"no answer within {deadline} s" in last and "ssh root@127.0.0.1" in last
        assert took < deadline + 30  # packaging, check, copy, then the deadline
    # nothing here lost: the previous results and report are as they were, no half-fetched folder
    assert _snapshot(out) == before
    assert not (out / deploy.INCOMING).exists()

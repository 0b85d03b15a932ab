"""Hostile and mistaken input to the deploy and run command lines: one clear line, the documented exit
status (driver.deploy: 2 usage/metadata/data, 3 no bitfile), nothing started, nothing lost.

Every case runs against a deploy folder that already holds an earlier deployment's results and report
(and the data files and run folder it uses), and asserts they are byte for byte as before.
"""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, compile_python, write_toy_h5
from driver import deploy
from driver import run as driver_run


def snapshot(*folders) -> dict:
    out = {}
    for folder in folders:
        folder = Path(folder)
        files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
        for p in files:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def earlier(tmp_path):
    """A deploy folder with an earlier deployment's results and report in it."""
    out = tmp_path / "deploy"
    (out / "results").mkdir(parents=True)
    (out / "results" / "results.json").write_text('{"earlier": true}\n')
    (out / "results" / "frames.npz").write_bytes(b"earlier frames")
    (out / "report.json").write_text('{"earlier": true}\n')
    (out / "report.md").write_text("# the earlier report\n")
    return out


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def emulate(run, build, out, *extra):
    return [str(run), "--board", "emulate", "--build", str(build), "--out", str(out), "--compile-python",
            compile_python(), "--snrs", "30", "--bench-batch-sizes", "", "--latency-repeats", "0", *extra]


# ---- the board address: no option can reach ssh -----------------------------------------------------
@pytest.mark.parametrize("board", ["-oProxyCommand=touch {pwned}", "xilinx@-oProxyCommand=touch {pwned}",
                                   "-J{pwned}", "root@host;touch {pwned}", "host:99999", "a b", "@host", "host:"])
def test_a_board_address_that_is_not_one_is_refused_before_any_ssh(board, fixture_run, tiny_build, earlier,
                                                                    tmp_path, capsys, monkeypatch):
    pwned = tmp_path / "pwned"
    monkeypatch.setattr(deploy, "_run_remote", lambda *a, **k: pytest.fail("ssh must not run"))
    before = snapshot(earlier, fixture_run)
    rc = deploy.main([str(fixture_run), f"--board={board.format(pwned=pwned)}", "--build", str(tiny_build),
                      "--out", str(earlier)])
    line = one_error_line(capsys)
    assert rc == 2 and "is not [user@]host[:port]" in line
    if board.startswith("-") or "@-" in board:
        assert "may not start with '-'" in line
    assert not pwned.exists() and snapshot(earlier, fixture_run) == before


def test_proxycommand_injection_from_the_command_line_runs_nothing(fixture_run, tiny_build, earlier, tmp_path):
    """The reported exploit, as typed: `--board=-oProxyCommand=...` through `python -m driver.deploy`."""
    pwned = tmp_path / "pwned"
    before = snapshot(earlier)
    r = subprocess.run([sys.executable, "-m", "driver.deploy", str(fixture_run),
                        f"--board=-oProxyCommand=touch {pwned}", "--build", str(tiny_build), "--out", str(earlier)],
                       cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: BOARD=") and len(r.stderr.splitlines()) == 1
    assert not pwned.exists() and snapshot(earlier) == before


@pytest.mark.parametrize("remote_dir", ["/tmp/x;touch /tmp/pwned", "-rf", "/", "/home/xilinx/../..", "~/x",
                                        "/tmp/a b"])
def test_a_remote_dir_that_a_shell_would_read_is_refused(remote_dir, fixture_run, tiny_build, earlier, capsys,
                                                         monkeypatch):
    monkeypatch.setattr(deploy, "_run_remote", lambda *a, **k: pytest.fail("ssh must not run"))
    before = snapshot(earlier)
    rc = deploy.main([str(fixture_run), "--board", "xilinx@192.0.2.7", "--build", str(tiny_build),
                      "--out", str(earlier), f"--remote-dir={remote_dir}"])
    line = one_error_line(capsys)
    assert rc == 2 and line.startswith(f"error: --remote-dir {remote_dir!r}")
    assert snapshot(earlier) == before


def test_the_board_commands_delete_only_a_marked_folder(fixture_run, tiny_build, tmp_path):
    """The "make room" step as a shell runs it, here: marked -> replaced, empty -> taken, else refused."""
    def make_room(d):
        return subprocess.run(["sh", "-c", deploy.make_room_script(str(d), sudo=False)], capture_output=True,
                              text=True, timeout=30)

    d = tmp_path / "dep"
    assert make_room(d).returncode == 0 and (d / deploy.REMOTE_MARK).is_file()  # new: made and marked
    (d / "package").mkdir()
    (d / "package" / "old").write_text("x")
    assert make_room(d).returncode == 0 and sorted(p.name for p in d.iterdir()) == [deploy.REMOTE_MARK]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert make_room(empty).returncode == 0 and (empty / deploy.REMOTE_MARK).is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep").write_text("keep")
    (mine / deploy.REMOTE_MARK).write_text("not the mark\n")  # a file of that name is not enough
    r = make_room(mine)
    assert r.returncode == deploy.REFUSED_RC and "was not made by a deployment" in r.stderr
    assert (mine / "keep").read_text() == "keep"
    f = tmp_path / "afile"
    f.write_text("data")
    assert make_room(f).returncode == deploy.REFUSED_RC and f.read_text() == "data"


# ---- the data file ------------------------------------------------------------------------------------------
def _damaged(kind: str, toy: Path, where: Path) -> Path:
    p = where / f"{kind}.h5"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(toy.read_bytes()[: toy.stat().st_size // 2])
    elif kind == "text":
        p.write_text("frame,label\n1,2\n")
    elif kind == "missing":
        pass
    return p


@pytest.mark.parametrize("kind,says", [("empty", "is empty (0 bytes)"), ("truncated", "truncated"),
                                       ("text", "not an HDF5 file"), ("missing", "no such data file")])
def test_a_damaged_data_file_is_one_line_before_the_emulator_starts(kind, says, fixture_run, tiny_build, toy_h5,
                                                                     earlier, tmp_path, capsys, monkeypatch):
    data = _damaged(kind, toy_h5, tmp_path)
    from driver import emulation

    monkeypatch.setattr(emulation.EmulatedOverlay, "__init__", lambda *a, **k: pytest.fail("the emulator started"))
    before = snapshot(earlier, toy_h5, *([data] if data.exists() else []))
    rc = deploy.main(emulate(fixture_run, tiny_build, earlier, "--data", str(data)))
    line = one_error_line(capsys)
    assert rc == 2 and str(data) in line and says in line
    assert snapshot(earlier, toy_h5, *([data] if data.exists() else [])) == before


def test_driver_run_names_a_damaged_data_file_too(fixture_run, tiny_build, toy_h5, tmp_path, capsys):
    """The board side (python -m driver.run, which run.sh starts): the same checks, exit status 2."""
    out = tmp_path / "d"
    plan = deploy.make_plan(str(fixture_run), deploy.Target(), str(tiny_build), None, str(out))
    pkg = deploy.assemble_package(plan)
    for kind, says in (("truncated", "truncated"), ("empty", "empty")):
        data = _damaged(kind, toy_h5, tmp_path)
        rc = driver_run.main(["--package", str(pkg), "--data", str(data), "--out", str(out / "results"),
                              "--backend", "emulation", "--build", str(tiny_build)])
        line = one_error_line(capsys)
        assert rc == 2 and says in line
    other = write_toy_h5(tmp_path / "other_fpb.h5", frames_per_block=3)
    rc = driver_run.main(["--package", str(pkg), "--data", str(other), "--out", str(out / "results"),
                          "--backend", "emulation", "--build", str(tiny_build)])
    line = one_error_line(capsys)
    assert rc == 2 and "is not the data file of this deployment" in line and "other labels or SNRs" in line
    rc = driver_run.main(["--package", str(pkg), "--data", str(toy_h5), "--out", str(out / "results"),
                          "--backend", "emulation", "--build", str(tiny_build), "--snrs", "thirty"])
    assert rc == 2 and "--snrs 'thirty'" in one_error_line(capsys)
    assert not (out / "results").exists()


def test_another_synthetic_file_of_the_same_schema_is_named_not_a_disagreement(fixture_run, tiny_build, toy_h5,
                                                                               earlier, tmp_path, capsys):
    """Same block size, same labels and SNRs at every index, other frames: the file is named (exit 2), before
    the accelerator runs, with the file the run used."""
    other = write_toy_h5(tmp_path / "toy-seed1.h5", frames_per_block=2, seed=1)
    before = snapshot(earlier, toy_h5, other)
    rc = deploy.main(emulate(fixture_run, tiny_build, earlier, "--data", str(other)))
    line = one_error_line(capsys)
    assert rc == 2
    assert f"DATA={other} is not the data file run {fixture_run} was evaluated on, {toy_h5} (data.json)" in line
    assert "hold other I/Q samples than the run's file" in line and "Leave DATA out" in line
    assert snapshot(earlier, toy_h5, other) == before  # no results, no report: nothing ran


def test_a_file_with_other_blocks_is_named_by_its_labels(fixture_run, tiny_build, toy_h5, earlier, tmp_path, capsys):
    other = write_toy_h5(tmp_path / "toy-3.h5", frames_per_block=3)
    run = tmp_path / "run"
    shutil.copytree(fixture_run, run)
    (run / "data.json").write_text(json.dumps({"kind": "toy", "path": str(toy_h5)}))
    rc = deploy.main(emulate(run, tiny_build, earlier, "--data", str(other)))
    line = one_error_line(capsys)
    assert rc == 2 and "other labels or SNRs than in predictions.npz" in line and str(toy_h5) in line


def _synthetic(path: Path, seed: int, config: dict) -> Path:
    import h5py

    write_toy_h5(path, frames_per_block=2, seed=seed)
    with h5py.File(path, "a") as f:
        f.attrs.update(synthetic=True, seed=seed, frames_per_block=2, config=json.dumps(config))
    return path


def test_synthetic_generator_settings_and_seed_are_compared(fixture_run, tiny_build, earlier, tmp_path, capsys):
    gen = {"snr_bandwidth": 0.5, "cfo_max": 1e-5}
    ours = _synthetic(tmp_path / "ours.h5", 0, gen)
    run = tmp_path / "run"
    shutil.copytree(fixture_run, run)
    (run / "data.json").write_text(json.dumps({"kind": "synthetic", "path": str(ours), "frames_per_block": 2,
                                               "synthetic_generator": gen}))
    seed1 = _synthetic(tmp_path / "seed1.h5", 1, gen)
    assert deploy.main(emulate(run, tiny_build, earlier, "--data", str(seed1))) == 2
    assert "generator seed 1, the run's file has seed 0" in one_error_line(capsys)
    other_gen = _synthetic(tmp_path / "gen.h5", 0, {**gen, "cfo_max": 1e-3})
    assert deploy.main(emulate(run, tiny_build, earlier, "--data", str(other_gen))) == 2
    assert "other synthetic-generator settings (cfo_max)" in one_error_line(capsys)
    (run / "data.json").write_text(json.dumps({"kind": "synthetic", "path": str(ours), "frames_per_block": 4,
                                               "synthetic_generator": gen}))
    assert deploy.main(emulate(run, tiny_build, earlier, "--data", str(ours))) == 2
    assert "2 frames per (class, SNR) block, the run's file has 4" in one_error_line(capsys)


# ---- the run folder, the build, the options --------------------------------------------------------------
def test_a_missing_build_or_run_is_one_line(fixture_run, tiny_build, earlier, tmp_path, capsys):
    before = snapshot(earlier)
    assert deploy.main(emulate(fixture_run, tmp_path / "no-build", earlier)) == 2
    line = one_error_line(capsys)
    assert "no build folder for tiny_vgg" in line and "make compile" in line
    assert deploy.main(emulate(tmp_path / "no-run", tiny_build, earlier)) == 2
    assert "expected a run folder" in one_error_line(capsys)
    assert deploy.main([str(fixture_run), "--board", "xilinx@192.0.2.7", "--build", str(tiny_build),
                        "--out", str(earlier)]) == 3
    assert "no bitfile" in one_error_line(capsys)
    assert snapshot(earlier) == before


@pytest.mark.parametrize("damage,says", [
    ("data.json", "cannot be read as JSON"), ("predictions.npz", "not a readable .npz"),
    ("io.json", "not valid JSON")])
def test_damaged_run_files_are_one_line(damage, says, fixture_run, tiny_build, earlier, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(fixture_run, run)
    (run / damage).write_bytes(b"{\x00 half a file")
    before = snapshot(earlier)
    assert deploy.main(emulate(run, tiny_build, earlier)) == 2
    line = one_error_line(capsys)
    assert says in line and damage in line
    assert snapshot(earlier) == before


@pytest.mark.parametrize("opts,says", [(["--snrs", "30,x"], "--snrs '30,x'"), (["--per-block", "0"], "--per-block 0"),
                                       (["--batch-size", "-1"], "--batch-size -1"),
                                       (["--bench-batch-sizes", "1,0"], "--bench-batch-sizes '1,0'"),
                                       (["--timeout-s", "0"], "--timeout-s 0")])
def test_bad_numbers_are_one_line(opts, says, fixture_run, tiny_build, earlier, capsys):
    before = snapshot(earlier)
    assert deploy.main(emulate(fixture_run, tiny_build, earlier, *opts)) == 2
    assert says in one_error_line(capsys)
    assert snapshot(earlier) == before


def test_an_out_folder_that_is_not_a_deployments_is_left_alone(fixture_run, tiny_build, tmp_path, capsys):
    home = tmp_path / "home"
    (home / "package").mkdir(parents=True)
    (home / "package" / "mine.txt").write_text("mine")
    (home / "notes.txt").write_text("notes")
    before = snapshot(home)
    assert deploy.main(emulate(fixture_run, tiny_build, home)) == 2
    assert "holds files this command did not write (no package/meta/deploy.json or" in one_error_line(capsys)
    assert snapshot(home) == before


def test_an_out_folder_over_the_deployments_inputs_is_refused(fixture_run, tiny_build, tmp_path, capsys):
    before = snapshot(fixture_run, tiny_build)
    for out in (fixture_run / "deploy", tiny_build / "deploy", tiny_build):
        assert deploy.main(emulate(fixture_run, tiny_build, out)) == 2
        assert "the command would write over what it reads" in one_error_line(capsys)
    assert snapshot(fixture_run, tiny_build) == before


def test_a_build_of_another_model_is_named(fixture_run, tiny_build, earlier, tmp_path, capsys):
    """The build records the sha256 of the model it compiled; a run whose model.onnx differs is refused."""
    run = tmp_path / "run"
    shutil.copytree(fixture_run, run)
    with open(run / "model.onnx", "ab") as f:
        f.write(b"\x00")  # another file: one byte more
    before = snapshot(earlier)
    assert deploy.main(emulate(run, tiny_build, earlier)) == 2
    line = one_error_line(capsys)
    assert "was compiled from another model" in line and "make compile" in line
    assert snapshot(earlier) == before


def test_frames_stored_transposed_are_named_as_such(fixture_run, tiny_build, toy_h5, earlier, tmp_path, capsys):
    """The same file with X stored (N, 2, 1024): one line saying so, from deploy and from the board side."""
    import h5py

    transposed = tmp_path / "transposed.h5"
    shutil.copy(toy_h5, transposed)
    with h5py.File(transposed, "a") as f:
        x = f["X"][:]
        del f["X"]
        f["X"] = np.ascontiguousarray(x.transpose(0, 2, 1))
    before = snapshot(earlier, toy_h5)
    rc = deploy.main(emulate(fixture_run, tiny_build, earlier, "--data", str(transposed)))
    line = one_error_line(capsys)
    assert rc == 2 and "expected (N, 1024, 2)" in line and "stored transposed" in line
    out = tmp_path / "d"
    plan = deploy.make_plan(str(fixture_run), deploy.Target(), str(tiny_build), None, str(out))
    pkg = deploy.assemble_package(plan)
    rc = driver_run.main(["--package", str(pkg), "--data", str(transposed), "--out", str(out / "results"),
                          "--backend", "emulation", "--build", str(tiny_build)])
    assert rc == 2 and "stored transposed" in one_error_line(capsys)
    assert snapshot(earlier, toy_h5) == before and not (out / "results").exists()

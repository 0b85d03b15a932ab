"""The command layer: one line and a documented status for every error, tracebacks only in a log file."""

from __future__ import annotations

import ast
import errno
import re
import subprocess
import sys
from pathlib import Path

import pytest

from amc_cli import STATUSES, AcceleratorFailed, BoardUnreachable, ConstraintMissed, Interrupted, RefusedInput
from amc_cli import ToolMissing, command

# found on its own, to check amc_cli.paths against
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def test_the_status_table_in_the_docs_is_the_layers():
    text = (ROOT / "docs" / "usage.md").read_text()
    section = text[text.index("## Exit statuses and errors"):]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M))
    assert {int(k): v for k, v in rows.items()} == STATUSES


def _entry_points():
    for folder in ("model", "compile", "driver", "scripts", "research"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "__main__" in path.read_text() and path.name != "finn_cli.py":  # finn_cli: FINN's own CLI
                yield path


@pytest.mark.parametrize("path", list(_entry_points()), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_entry_point_runs_through_the_layer(path):
    tree = ast.parse(path.read_text())
    mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert mains, f"{path}: an entry point without main()"
    decorators = [ast.unparse(d) for d in mains[0].decorator_list]
    assert decorators in (["command"], ["amc_cli.command"]), f"{path}: main() is not decorated with @command"


def _run(fn, capsys, argv=()):
    code = command(fn)(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("exc, status", [
    (RefusedInput("x.h5: not an HDF5 file"), 2), (ConstraintMissed("over the budget"), 1),
    (ToolMissing("no Vivado"), 3), (AcceleratorFailed("no answer in 10 s"), 4), (BoardUnreachable("ssh: refused"), 5),
    (Interrupted("the run keeps its checkpoints"), 130),
])
def test_a_project_error_is_one_line_and_its_status(capsys, exc, status):
    def main(argv):
        raise exc

    code, err = _run(main, capsys)
    assert code == status and str(exc) in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_bug_is_one_line_naming_a_log_that_holds_the_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AMC_LOG_DIR", str(tmp_path / "logs"))

    def main(argv):
        return {}["missing key"]

    code, err = _run(main, capsys, ["--some", "args"])
    assert code == 70 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    log = Path(re.search(r"traceback in (\S+?)\)", err).group(1))
    assert log.parent == tmp_path / "logs"
    text = log.read_text()
    assert "--some args" in text and "Traceback" in text and "KeyError: 'missing key'" in text


def test_os_errors_name_the_path_and_are_refused_input(capsys):
    def missing(argv):
        open("/nonexistent/folder/file.onnx")

    def message_only(argv):
        raise FileNotFoundError("runs/x: no checkpoint here; train first")

    code, err = _run(missing, capsys)
    assert code == 2 and err.strip() == "error: /nonexistent/folder/file.onnx: No such file or directory"
    code, err = _run(message_only, capsys)
    assert code == 2 and err.strip() == "error: runs/x: no checkpoint here; train first"


def test_an_unexpected_os_error_is_a_bug(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AMC_LOG_DIR", str(tmp_path))

    def main(argv):
        raise OSError(errno.EIO, "Input/output error")

    code, err = _run(main, capsys)
    assert code == 70 and "traceback in" in err


def test_usage_errors_and_ctrl_c(capsys):
    import argparse

    def main(argv):
        ap = argparse.ArgumentParser(prog="demo")
        ap.add_argument("--n", type=int)
        ap.parse_args(argv)

    def interrupted(argv):
        raise KeyboardInterrupt

    assert _run(main, capsys, ["--n", "x"])[0] == 2
    code, err = _run(interrupted, capsys)
    assert code == 130 and "interrupted" in err and "Traceback" not in err


def test_a_script_main_without_argv_still_runs(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["script.py"])

    @command
    def main():
        raise RefusedInput("bad")

    assert main() == 2 and capsys.readouterr().err.strip() == "error: bad"


@pytest.mark.parametrize("args, message", [
    (["-m", "model.cost", "{garbage}"], "not a readable ONNX model"),
    (["-m", "compile.build", "compile", "{garbage}", "--out", "{out}"], "not a readable ONNX model"),
    (["-m", "model.synth.critic", "{garbage_pt}", "{garbage}"], "not a PyTorch"),
    (["scripts/export_untrained.py", "no-such-recipe"], ""),
])
def test_commands_refuse_garbage_without_a_traceback(tmp_path, args, message):
    garbage = tmp_path / "model.onnx"
    garbage.write_bytes(b"\x00\xff garbage " * 100)
    garbage_pt = tmp_path / "model.pt"
    garbage_pt.write_text('{"this": "is json"}')
    argv = [a.format(garbage=garbage, garbage_pt=garbage_pt, out=tmp_path / "out") for a in args]
    r = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={"AMC_LOG_DIR": str(tmp_path / "logs"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and message in r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "logs").exists()


def test_one_rule_for_default_paths():
    """Paths the code chooses sit under the repository (amc_cli.paths), whatever the working directory."""
    from amc_cli.paths import REPO_ROOT
    from compile.boards import BOARD_DIRS
    from compile.config import DEFAULT_BUILD_ROOT
    from driver.deploy import REPO

    assert REPO_ROOT == ROOT and REPO == ROOT
    assert DEFAULT_BUILD_ROOT == ROOT / "hw" / "builds" and BOARD_DIRS == (ROOT / "hw" / "boards",)
    for folder in ("model", "compile", "driver", "research"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "parents[" not in path.read_text(), f"{path}: a repository root of its own"

"""Every command given the usual wrong things where a file or folder belongs (nothing there, an empty file,
a folder, bytes of garbage, text of the wrong kind): one error line, a documented status other than the
"unexpected error" one, no traceback, and nothing written beside the input."""
from __future__ import annotations

import importlib

import pytest

from amc_cli import STATUSES
from amc_cli.errors import INTERNAL

#: (module, argv with {bad} where the bad path goes, {out} for an output)
COMMANDS = [
    ("model.cost", ["{bad}"]),
    ("model.unroll", ["{bad}", "--polyphase", "8", "--out", "{out}"]),
    ("model.ladder", ["{bad}"]),
    ("model.synth.critic", ["{bad}", "{bad}", "--plot", "none"]),
    ("model.pipeline", ["{bad}", "--run", "{out}"]),
    ("model.sweep", ["run", "{bad}", "--out", "{out}"]),
    ("model.sweep", ["report", "{bad}", "--out", "{out}"]),
    ("compile.requantize", ["{bad}", "--frames", "{bad}", "--out", "{out}/m.onnx"]),
    ("compile.build", ["compile", "{bad}", "--out", "{out}"]),
    ("compile.build", ["rtlsim", "{bad}"]),
    ("compile.build", ["synth", "{bad}"]),
    ("compile.build", ["report", "{bad}"]),
    ("driver.report", ["{bad}", "--out", "{out}"]),
    ("driver.deploy", ["{bad}", "--out", "{out}"]),
]

KINDS = {
    "missing": None,
    "empty": b"",
    "garbage": bytes(range(256)) * 8,
    "json": b'{"not": "what this command reads"}',
    "yaml": b"- just\n- a list\n",
}


def _make(tmp_path, kind):
    if kind == "folder":
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "stray.txt").write_text("a user's file")
        return tmp_path / "bad"
    path = tmp_path / "bad.onnx"
    if KINDS[kind] is not None:
        path.write_bytes(KINDS[kind])
    return path


@pytest.mark.parametrize("kind", [*KINDS, "folder"])
@pytest.mark.parametrize("module, argv", COMMANDS, ids=lambda c: c if isinstance(c, str) else " ".join(c[:1]))
def test_a_wrong_file_is_one_line_and_a_documented_status(tmp_path, capsys, monkeypatch, module, argv, kind):
    monkeypatch.setenv("AMC_LOG_DIR", str(tmp_path / "logs"))
    bad = _make(tmp_path, kind)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    main = importlib.import_module(module).main
    code = main([a.format(bad=bad, out=tmp_path / "out") for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code != INTERNAL and code in STATUSES and code != 0, (code, err)
    errors = [ln for ln in err.splitlines() if ln.startswith(("error:", "usage:"))]
    assert errors, err
    assert not (tmp_path / "logs").exists(), err
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if not p.is_relative_to(tmp_path / "out"))
    assert after == before

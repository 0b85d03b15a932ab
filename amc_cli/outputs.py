"""Outputs never over inputs: a command's output folder or file is checked against everything it reads,
and written under a temporary name that is renamed into place, so that a failure or a kill leaves either
the old output or the new one, never a mixture, and never a damaged input.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator, Sequence

from amc_cli.errors import RefusedInput


def _overlap(out: Path, source: Path) -> str | None:
    """How `out` collides with input `source`, or None."""
    o, s = out.resolve(), source.resolve()
    if o == s:
        return "is"
    if s in o.parents:
        return "lies inside"
    if o in s.parents:
        return "contains"
    return None


def _collisions(out: Path, inputs: Sequence[str | Path | None]) -> Iterator[tuple[Path, str]]:
    for source in inputs:
        how = _overlap(out, Path(source)) if source is not None else None
        if how:
            yield Path(source), how


def check_not_over_inputs(out: str | Path, inputs: Sequence[str | Path | None], option: str = "--out") -> Path:
    """`out` (a folder to write) if it is not one of `inputs`, does not lie inside one and does not contain one."""
    out = Path(out)
    for source, how in _collisions(out, inputs):
        raise RefusedInput(f"{option} {out} {how} the input {source}: the command would write over what it "
                           "reads; name a new folder")
    return out


def check_output_folder(out: str | Path, inputs: Sequence[str | Path | None], marker: str | Sequence[str],
                        option: str = "--out", example: str = "") -> Path:
    """`out` if the command may write it: not over its inputs (check_not_over_inputs); a new or empty
    folder, or one this command wrote before (it holds `marker`, or one of several)."""
    out = check_not_over_inputs(out, inputs, option)
    markers = [marker] if isinstance(marker, str) else list(marker)
    such = f", e.g. {example}" if example else ""
    if out.exists() and not out.is_dir():
        raise RefusedInput(f"{option} {out} is a file, not a folder; name a folder{such}")
    if out.is_dir() and any(out.iterdir()) and not any((out / m).exists() for m in markers):
        raise RefusedInput(f"{option} {out} holds files this command did not write (no {' or '.join(markers)}); "
                           f"nothing was changed. Name a new or empty folder{such}")
    return out


def check_output_file(out: str | Path, inputs: Sequence[str | Path | None], option: str = "--out") -> Path:
    """`out` if it is not one of the inputs (nor a folder, nor inside an input folder)."""
    out = Path(out)
    for source, how in _collisions(out, inputs):
        if how == "is" or (how == "lies inside" and source.is_dir()):
            raise RefusedInput(f"{option} {out} {how} the input {source}: the command would write over what it "
                               "reads; name another file")
    if out.is_dir():
        raise RefusedInput(f"{option} {out} is a folder; name a file")
    return out


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


@contextlib.contextmanager
def replaced(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write; renamed onto `path` when the block succeeds, removed if not."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` under a temporary name, then rename it into place."""
    with replaced(path) as tmp:
        tmp.write_text(text)
    return Path(path)


@contextlib.contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """A temporary folder beside `out` to fill; on success it replaces `out` (an older output of the same
    command), on failure it is removed and `out` is left as it was."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(out)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

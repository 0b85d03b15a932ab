"""Set up finn-plus for use outside its CLI (no Vivado needed for the steps this project runs).

finn-plus keeps global settings that its CLI normally creates; `initialize_dummy_settings()` is its
documented way to use transformations without the CLI. FINN_BUILD_DIR is where its code generation
writes (per-layer HLS/RTL sources): we point it into the build folder so the sources land there, and
its `finn_rtllib` at the build folder's overlaid copy of finn-rtllib (compile/rtllib.py), so that the
generated sources, their simulation and the bitstream all use the patched RTL library.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

_current: Path | None = None


def init_finn(codegen_dir: Path) -> None:
    """Point FINN's build directory at `codegen_dir` (created first), initialise its settings and use
    the overlaid finn-rtllib in `codegen_dir`'s sibling `rtllib/`."""
    global _current
    codegen_dir = Path(codegen_dir).resolve()
    codegen_dir.mkdir(parents=True, exist_ok=True)
    os.environ["FINN_BUILD_DIR"] = str(codegen_dir)
    if _current == codegen_dir:
        return
    warnings.filterwarnings("ignore", message="Assuming .* input is")
    warnings.filterwarnings("ignore", message="The GemmToMatMul transformation only offers")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from finn.util.settings import initialize_dummy_settings

    initialize_dummy_settings()
    logging.getLogger("finn").setLevel(logging.WARNING)
    from .hwops import register

    register()  # our RTL ops (Pool_rtl) into finn-plus's registry
    from .rtllib import use_overlaid_rtllib

    use_overlaid_rtllib(codegen_dir.parent / "rtllib")
    _current = codegen_dir

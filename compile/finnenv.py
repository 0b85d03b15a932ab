"""Set up finn-plus for use outside its CLI (no Vivado needed for the steps this project runs).

finn-plus keeps global settings that its CLI normally creates; `initialize_dummy_settings()` is its
documented way to use transformations without the CLI. FINN_BUILD_DIR is where its code generation
writes (per-layer HLS/RTL sources): we point it into the build folder so the sources land there.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

_current: Path | None = None


def init_finn(codegen_dir: Path) -> None:
    """Point FINN's build directory at `codegen_dir` (created first) and initialise its settings."""
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
    _current = codegen_dir

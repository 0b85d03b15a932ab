"""Xilinx's unisim simulation models of DSP48E2 and LUT6_2, adapted for Verilator: MVAU_rtl's real DSP path.

finn-rtllib's mvu.sv selects a behavioural model of its DSP48E2 slices under `ifdef VERILATOR`. With
`--dsp unisim` the simulation instead undefines VERILATOR and instantiates the DSP48E2 and LUT6_2
primitives that Vivado maps it to, simulated with Xilinx's own unisim models (Apache-2.0; not on any
package registry: the project keeps them in shared/vendor/xilinx-unisim/, from Xilinx/
XilinxUnisimLibrary at 1c8e05f; AMC_UNISIM_DIR points elsewhere). Two adaptations, made on copies in
the simulation's folder (the vendored files stay as published):
- the models' global set/reset is tied to 0 (`glbl.GSR` becomes `1'b0`) instead of being read from
  the glbl module that Vivado's simulators elaborate beside the design;
- the unisim idiom that reads an unconnected input as its default, `(X === 1'bz) || X` and
  `(X !== 1'bz) && (...)`, becomes plain `X` and `(...)`: Verilator is two-state and mvu.sv drives
  every DSP input, so the idiom has nothing to detect.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from amc_cli import ToolMissing
from amc_cli.paths import SHARED

MODELS = ("DSP48E2.v", "LUT6_2.v")
DEFINES: list[str] = []
UNDEFINES = ["VERILATOR"]  # mvu.sv: `ifdef VERILATOR` selects the behavioural DSP model

_DEFAULT_IS_1 = re.compile(r"\(([\w\[\]]+) === 1'bz\) \|\| ")
_DEFAULT_IS_0 = re.compile(r"\(([\w\[\]]+) !== 1'bz\) && ")


class UnisimMissing(ToolMissing, FileNotFoundError):
    pass


def unisim_dir() -> Path:
    env = os.environ.get("AMC_UNISIM_DIR")
    d = Path(env) if env else SHARED / "vendor" / "xilinx-unisim"
    missing = [m for m in MODELS if not (d / m).is_file()]
    if missing:
        raise UnisimMissing(f"--dsp unisim needs Xilinx's unisim models {', '.join(missing)} in {d} "
                            "(shared/vendor/xilinx-unisim/ beside the repository, or AMC_UNISIM_DIR)")
    return d


def adapt(text: str) -> str:
    text = text.replace("glbl.GSR", "1'b0")
    return _DEFAULT_IS_0.sub("", _DEFAULT_IS_1.sub("", text))


def adapted_models(dest: Path) -> list[Path]:
    """Adapted copies of the models in `dest`; returns their paths."""
    src = unisim_dir()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for m in MODELS:
        p = dest / m
        text = adapt((src / m).read_text(errors="replace"))
        if not p.is_file() or p.read_text() != text:
            p.write_text(text)
        out.append(p)
    return out

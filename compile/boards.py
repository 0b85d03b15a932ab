"""Board definitions: data files in hw/boards/<board>.yaml (part, default clock, resource capacity)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from amc_cli.paths import REPO_ROOT

#: The resources FINN estimates per layer and that a folding budget can constrain.
RESOURCES = ("LUT", "BRAM_18K", "URAM", "DSP")

BOARD_DIRS = (REPO_ROOT / "hw" / "boards",)  # another board: --board path/to/board.yaml


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    finn_board: str
    shell: str
    clock_mhz: float
    resources: dict[str, int] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    input_dma_bits: int | None = None  # the input DMA's bits per cycle (None: not described)

    def capacity(self, resource: str) -> int:
        return int(self.resources.get(resource, 0))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "part": self.part,
            "finn_board": self.finn_board,
            "shell": self.shell,
            "clock_mhz": self.clock_mhz,
            "resources": dict(self.resources),
            "input_dma_bits": self.input_dma_bits,
            "source": self.source,
        }


def board_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in BOARD_DIRS:
        if d.is_dir():
            for f in sorted(d.glob("*.yaml")):
                found.setdefault(f.stem, f)
    return found


def load_board(name_or_path: str | Path) -> Board:
    """Load a board by name (hw/boards/<name>.yaml) or from a YAML file path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        path = p
    else:
        files = board_files()
        key = str(name_or_path).lower()
        if key not in files:
            raise ValueError(
                f"unknown board {name_or_path!r}; known boards: {', '.join(sorted(files))} "
                f"(hw/boards/<board>.yaml), or pass a board YAML file"
            )
        path = files[key]
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path}: YAML syntax error{where}: {getattr(e, 'problem', None) or e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a board definition is a mapping (name, part, finn_board, clock_mhz, resources)")
    missing = [k for k in ("name", "part", "finn_board", "clock_mhz", "resources") if k not in data]
    if missing:
        raise ValueError(f"{path}: board definition lacks {', '.join(missing)}")
    try:
        res = {k: int(v) for k, v in dict(data["resources"]).items()}
        clock = float(data["clock_mhz"])
    except (TypeError, ValueError):
        raise ValueError(f"{path}: resources must map names to counts and clock_mhz must be a number") from None
    if not clock > 0 or any(v < 0 for v in res.values()):
        raise ValueError(f"{path}: clock_mhz must be positive and resource counts not negative")
    dma = data.get("input_dma_bits")
    if dma is not None and (not isinstance(dma, int) or dma <= 0 or dma % 8):
        raise ValueError(f"{path}: input_dma_bits must be a positive whole number of bytes in bits, got {dma!r}")
    lacking = [r for r in RESOURCES if r not in res]
    if lacking:
        raise ValueError(f"{path}: resources lack {', '.join(lacking)}")
    return Board(
        name=str(data["name"]),
        part=str(data["part"]),
        finn_board=str(data["finn_board"]),
        shell=str(data.get("shell", "vivado_zynq")),
        clock_mhz=clock,
        resources=res,
        description=str(data.get("description", "")),
        source=str(path),
        input_dma_bits=dma,
    )

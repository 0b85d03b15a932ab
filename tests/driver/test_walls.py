"""The wall: driver/ runs on the board's Python with numpy, pynq, h5py and finn-plus-driver only."""
import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (ROOT / "driver").glob("*.py") if p.stem != "__main__")
FORBIDDEN = {"torch", "brevitas", "finn", "model", "compile", "onnxruntime", "pandas"}
# onnx: qonnx's own dependency (amc_cli.inputs reads ONNX files for model/ and compile/, lazily)
ALLOWED = {"numpy", "pynq", "h5py", "finn_plus_driver", "qonnx", "onnx", "bitstring", "matplotlib", "driver", "amc_cli"}


def test_importing_every_driver_module_pulls_in_nothing_forbidden():
    code = ("import importlib, json, sys\n"
            f"for m in {MODULES!r}: importlib.import_module('driver.' + m)\n"
            "print(json.dumps(sorted({k.split('.')[0] for k in sys.modules})))")
    r = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    loaded = set(json.loads(r.stdout))
    assert "driver" in loaded and len(MODULES) >= 8
    assert not loaded & FORBIDDEN, f"driver modules import {sorted(loaded & FORBIDDEN)}"
    assert "pynq" not in loaded and "matplotlib" not in loaded, "board/plot libraries must load lazily"


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0], node.lineno


def test_every_import_statement_even_lazy_ones_is_allowed():
    bad = []
    for p in sorted((ROOT / "driver").glob("*.py")) + sorted((ROOT / "amc_cli").glob("*.py")):
        for mod, line in _imports(p):
            if mod not in ALLOWED and mod not in sys.stdlib_module_names:
                bad.append(f"{p.name}:{line} imports {mod}")
    assert not bad, bad


def test_driver_code_is_python_3_10_syntax():
    """PYNQ board images ship Python 3.10; the driver and its command layer are copied there as source."""
    for p in sorted((ROOT / "driver").glob("*.py")) + sorted((ROOT / "amc_cli").glob("*.py")):
        ast.parse(p.read_text(), filename=str(p), feature_version=(3, 10))


def test_this_environment_is_the_boards_kind():
    import numpy

    assert int(numpy.__version__.split(".")[0]) < 2  # finn-plus-driver's requirement
    r = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    assert r.returncode != 0, "torch is importable in the driver environment"

"""Command line, Makefile wiring, the bitstream entry without Vivado, boards, I/O description, walls."""
import ast
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from compile_support import FIXTURES, ROOT

from compile.boards import RESOURCES, board_files, load_board
from compile.iodesc import InputQuant, load_io, parse_io


def _env_without_xilinx():
    env = {k: v for k, v in os.environ.items() if not k.startswith("XILINX")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_cli_compile_prints_the_report_as_json(tmp_path):
    out = tmp_path / "b"
    p = subprocess.run(
        [sys.executable, "-m", "compile.build", "compile", str(FIXTURES / "tiny_vgg"), "--out", str(out),
         "--target-fps", "50000", "--verify-frames", "2", "--json"],
        cwd=ROOT, env=_env_without_xilinx(), capture_output=True, text=True, timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    rep = json.loads(p.stdout)
    assert rep["format"] == "amc-fpga-compile-report/1"
    assert rep["throughput"]["frames_per_s"] >= 50000
    assert rep["folding"]["strategy"] == "cheapest-for-target"
    assert "[hw_codegen]" in p.stderr  # progress goes to stderr with --json
    p2 = subprocess.run([sys.executable, "-m", "compile.build", "report", str(out), "--json"],
                        cwd=ROOT, capture_output=True, text=True)
    assert json.loads(p2.stdout) == rep


def test_bitstream_fails_cleanly_without_vivado(tiny_vgg_build):
    cfg, _ = tiny_vgg_build
    p = subprocess.run(
        [sys.executable, "-m", "compile.build", "bitstream", str(FIXTURES / "tiny_vgg"), "--out",
         str(cfg.out_dir), "--reuse"],
        cwd=ROOT, env=_env_without_xilinx(), capture_output=True, text=True, timeout=300,
    )
    assert p.returncode == 3, p.stderr
    assert "XILINX_VIVADO is not set" in p.stderr
    assert "Vivado" in p.stderr and "Traceback" not in p.stderr
    # the hand-over to finn-plus's builder is prepared and valid for its DataflowBuildConfig
    flow = cfg.out_dir / "bitstream" / "finn_flow.yaml"
    assert flow.is_file() and str(flow) in p.stderr
    from finn.builder.build_dataflow_config import DataflowBuildConfig

    dfbc = DataflowBuildConfig.construct_from(flow)
    assert dfbc.board == "ZCU104" and dfbc.synth_clk_period_ns == pytest.approx(4.0)
    assert dfbc.steps[0] == "step_assign_ddr_weight_offsets" and "step_synthesize_bitfile" in dfbc.steps


def test_missing_tools_are_listed():
    from compile.vivado import missing_tools

    assert any("XILINX_VIVADO is not set" in m for m in missing_tools(env={"PATH": ""}))
    m = missing_tools(env={"XILINX_VIVADO": "/nonexistent/Vivado/2024.2", "PATH": ""})
    assert any("has no bin/vivado" in x for x in m) and any("XILINX_HLS" in x for x in m)


def test_make_targets_call_the_cli():
    def dry(*args):
        p = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True,
                           text=True)
        return p.stdout

    out = dry("compile", "MODEL=runs/x", "BOARD=pynq-z2", "TARGET_FPS=1000", "PY=python3", "STAMP=.nostamp")
    assert "-m compile.build compile runs/x --board pynq-z2 --target-fps 1000" in out
    out = dry("bitstream", "MODEL=m.onnx", "FOLDING=f.json", "PY=python3", "STAMP=.nostamp")
    assert "-m compile.build bitstream m.onnx --board zcu104 --folding f.json" in out


def test_boards_are_complete():
    names = set(board_files())
    assert {"zcu104", "pynq-z2", "kv260", "ultra96"} <= names
    for n in names:
        b = load_board(n)
        assert b.part and b.clock_mhz > 0 and all(r in b.resources for r in RESOURCES)
    z = load_board("zcu104")
    assert z.part == "xczu7ev-ffvc1156-2-e" and z.resources["LUT"] == 230400
    with pytest.raises(ValueError, match="unknown board"):
        load_board("zcu999")


def test_io_description_and_quantizer():
    io = load_io(FIXTURES / "tiny_vgg" / "model.onnx")
    q = io.quant
    assert (q.bit_width, q.signed, q.scale, q.min_code, q.max_code) == (8, True, 0.015625, -128, 127)
    x = np.array([-3.0, -2.0, 0.0078125, 0.0234375, 1.984375, 5.0])
    # round half to even: 0.5 -> 0, 1.5 -> 2; clipping at both ends
    assert q.quantize(x).tolist() == [-128, -128, 0, 2, 127, 127]
    u = InputQuant(4, False, True, 0.5, 0.0, 0.0, 7.0)
    assert (u.min_code, u.max_code, u.finn_datatype) == (0, 14, "UINT4")
    with pytest.raises(ValueError, match="format"):
        parse_io({"format": "other"})


def test_compile_code_keeps_its_walls():
    """compile/ and its tests never import model/, torch or brevitas (finn-plus 1.6.1 itself imports
    torch in finn/custom_op/fpgadataflow/layernorm.py; that is its requirement, not our import)."""
    files = list((ROOT / "compile").rglob("*.py")) + list((ROOT / "tests" / "compile").rglob("*.py"))
    files += [ROOT / "tests" / "compile_support.py"]
    assert any(f.parent.name == "hwops" for f in files) and any(f.parent.name == "rtlsim" for f in files)
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in ("torch", "brevitas", "model"), f"{f.name} imports {n}"


def test_a_bare_onnx_files_build_and_report_are_named_after_the_file(tmp_path):
    """A model.onnx is named after its run folder; any other .onnx after itself, not the folder it sits in."""
    import shutil

    from compile.config import make_config
    from compile.report import to_markdown

    bare = tmp_path / "shared-models" / "aaron.onnx"
    bare.parent.mkdir()
    shutil.copy2(FIXTURES / "tiny_vgg" / "model.onnx", bare)
    shutil.copy2(FIXTURES / "tiny_vgg" / "io.json", bare.parent / "io.json")
    cfg = make_config(bare, board="zcu104")
    assert cfg.out_dir.name == "aaron-zcu104"
    assert make_config(FIXTURES / "tiny_vgg", board="zcu104").out_dir.name == "tiny_vgg-zcu104"
    rep = {"model": str(bare), "board": {"name": "zcu104", "description": "d", "part": "p"}, "clock_mhz": 250,
           "frame_length": 1024, "throughput": {"cycles_per_frame": 1, "bottleneck": "x", "frames_per_s": 1.0,
                                                 "iq_samples_per_s": 1.0},
           "latency": {"cycles": 1, "us": 1.0}, "resources": {}, "folding": {"file": "f", "strategy": "s"},
           "layers": []}
    assert to_markdown(rep).startswith("# Compile report: aaron on zcu104")

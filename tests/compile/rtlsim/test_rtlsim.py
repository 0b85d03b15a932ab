"""RTL simulation with Verilator (compile/rtlsim/): the overlay, single layers under back-pressure, the
stitched accelerator bit-exact with its FIFOs sized, and what make bitstream takes from it."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from compile_support import copy_build

from compile.runner import artefact_path

pytestmark = pytest.mark.slow


def _rtllib():
    from finn.util.settings import get_settings

    return get_settings().finn_rtllib


def _model(cfg):
    from qonnx.core.modelwrapper import ModelWrapper

    from compile.emulate import latest_accelerator
    from compile.finnenv import init_finn

    init_finn(cfg.codegen_dir)
    return ModelWrapper(str(latest_accelerator(cfg.out_dir)))


def test_overlay_patches_a_copy_and_leaves_finn_plus_alone(tmp_path):
    from compile.rtllib import installed_rtllib, overlaid_rtllib, patches

    assert len(patches()) >= 2
    dest = overlaid_rtllib(tmp_path / "rtllib")
    stamp = json.loads((dest / "OVERLAY.json").read_text())
    assert stamp["patches"] == [p.name for p in patches()]
    assert "[amc-fpga overlay]" in (dest / "mvu" / "add_multi.sv").read_text()
    assert "[amc-fpga overlay]" not in (installed_rtllib() / "mvu" / "add_multi.sv").read_text()
    mtime = (dest / "OVERLAY.json").stat().st_mtime_ns
    assert overlaid_rtllib(dest) == dest and (dest / "OVERLAY.json").stat().st_mtime_ns == mtime  # kept


def test_the_build_generates_from_the_overlay(tiny_vgg_build):
    cfg, _ = tiny_vgg_build
    _model(cfg)
    assert (cfg.out_dir / "rtllib" / "OVERLAY.json").is_file()
    assert _rtllib() == str((cfg.out_dir / "rtllib").resolve())


def test_module_ports_reads_a_generated_wrapper(tiny_vgg_build):
    from qonnx.custom_op.registry import getCustomOp

    from compile.rtlsim.top import module_ports

    cfg, _ = tiny_vgg_build
    node = _model(cfg).get_nodes_by_op_type("Thresholding_rtl")[0]
    wrapper = next(p for p in getCustomOp(node).get_rtl_file_list(abspath=True) if p.endswith(f"{node.name}.v"))
    ports = module_ports(wrapper, node.name)
    assert ports["in0_V_TDATA"] == "input" and ports["out0_V_TDATA"] == "output"
    assert ports["ap_rst_n"] == "input" and ports["s_axilite_RDATA"] == "output"


# one node of each RTL layer type in the fixture; MVAU_rtl_2 has MW != SIMD (MW == SIMD: test_rtlsim_mvau_queue)
@pytest.mark.parametrize("node", ["FMPadding_rtl_0", "ConvolutionInputGenerator_rtl_1", "MVAU_rtl_2",
                                  "Thresholding_rtl_1"])
def test_each_rtl_layer_is_bit_exact_with_finns_python_model_under_backpressure(tiny_vgg_build, tmp_path, node):
    from compile.rtlsim.node import check_node

    cfg, _ = tiny_vgg_build
    model = _model(cfg)
    full = check_node(model, node, tmp_path / node, _rtllib(), frames=2)
    assert full.bit_exact, full.first_mismatch
    assert abs(full.cycles_per_frame / full.expected_cycles - 1) < 0.02
    slow = check_node(model, node, tmp_path / node, _rtllib(), frames=2, ready_prob=0.5, valid_prob=0.5, seed=3)
    assert slow.bit_exact, slow.first_mismatch
    assert slow.cycles_per_frame > 1.3 * full.cycles_per_frame  # the back-pressure did throttle it


def test_a_layer_without_rtl_is_named(tiny_vgg_build, tmp_path):
    from onnx import helper

    from compile.rtlsim.top import node_unit

    cfg, _ = tiny_vgg_build
    model = _model(cfg)
    node = helper.make_node("DuplicateStreams_hls", ["a"], ["b", "c"], name="Dup_0",
                            domain="finn.custom_op.fpgadataflow.hls")
    model.graph.node.append(node)
    with pytest.raises(NotImplementedError, match="Dup_0 .*no RTL implementation"):
        node_unit(model, node, _rtllib())


@pytest.fixture(scope="module")
def simulated(tiny_vgg_build, tmp_path_factory):
    """A copy of the tiny_vgg build, simulated stitched with FIFO sizing."""
    from compile.rtlsim.accelerator import simulate_accelerator

    cfg, _ = tiny_vgg_build
    cfg = copy_build(cfg, tmp_path_factory.mktemp("rtlsim"))
    logs = []
    sec = simulate_accelerator(cfg, frames=6, log=logs.append)
    return cfg, sec, logs


def test_the_stitched_accelerator_is_bit_exact_at_the_estimated_rate(simulated):
    cfg, sec, logs = simulated
    assert sec["bit_exact"] and sec["frames"] == 6
    assert abs(sec["cycles_per_frame_vs_estimate"] - 1) < 0.02, sec
    assert 0 < sec["latency_cycles"] < sec["estimate"]["latency_cycles"]  # layers overlap; FINN's sum does not
    rep = json.loads((cfg.out_dir / "report.json").read_text())
    assert rep["rtlsim"]["cycles_per_frame"] == sec["cycles_per_frame"]
    md = (cfg.out_dir / "report.md").read_text()
    assert "RTL simulation: logic only, no DMA shell, no timing closure" in md
    assert any("random back-pressure" in m and "bit-exact" in m for m in logs)


def test_fifo_sizing_shrinks_the_fifos_and_reaches_folding_json(simulated):
    cfg, sec, _ = simulated
    fs = sec["fifo_sizing"]
    assert sum(fs["depths"].values()) < sum(fs["initial_depths"].values())
    assert all(d >= 2 for d in fs["depths"].values())
    assert fs["estimate_sized"]["LUT"] + fs["estimate_sized"]["BRAM_18K"] < \
        fs["estimate_initial"]["LUT"] + fs["estimate_initial"]["BRAM_18K"]
    fold = json.loads(cfg.folding_path.read_text())
    recorded = {f"{n}.{'in' if a == 'inFIFODepths' else 'out'}{i}": d
                for n, attrs in fold.items() if n != "Defaults"
                for a, v in attrs.items() if a in ("inFIFODepths", "outFIFODepths") for i, d in enumerate(v)}
    assert {k: recorded[k] for k in fs["depths"]} == fs["depths"]


def test_make_bitstream_takes_the_sized_fifos_and_the_overlay(simulated):
    import yaml
    from qonnx.core.modelwrapper import ModelWrapper

    from compile.vivado import write_flow_config

    cfg, sec, _ = simulated
    flow, handoff = write_flow_config(cfg)
    conf = yaml.safe_load(flow.read_text())
    assert conf["auto_fifo_strategy"] == "force_minimal_fifos"
    settings = yaml.safe_load((flow.parent / "finn_settings.yaml").read_text())
    assert settings["finn_rtllib"] == str((cfg.out_dir / "rtllib").resolve())
    from qonnx.custom_op.registry import getCustomOp

    m = ModelWrapper(str(handoff))
    site, depth = next(iter(sec["fifo_sizing"]["depths"].items()))
    node, port = site.rsplit(".", 1)
    attr = "inFIFODepths" if port.startswith("in") else "outFIFODepths"
    assert getCustomOp(m.get_node_from_name(node)).get_nodeattr(attr)[int(port[-1])] == depth


def test_a_wrong_golden_output_fails_naming_the_frame(simulated, tmp_path):
    from compile.rtlsim.accelerator import RtlsimMismatch, simulate_accelerator

    cfg, _, _ = simulated
    gold = cfg.verify_dir / "golden_partition.npz"
    saved = tmp_path / "golden.npz"
    shutil.copy2(gold, saved)
    try:
        g = np.load(saved)["int_out"].copy()
        g[1, 3] += 1
        np.savez(gold, int_out=g)
        with pytest.raises(RtlsimMismatch, match="frame 1 differs from the golden output first at element 3"):
            simulate_accelerator(cfg, frames=2, size_fifos=False, log=lambda m: None)
    finally:
        shutil.copy2(saved, gold)


def test_mvau_on_the_dsp48e2_unisim_models_is_bit_exact(tiny_vgg_build, tmp_path):
    """MVAU_rtl's real DSP path: mvu.sv with VERILATOR undefined instantiates DSP48E2/LUT6_2, simulated with
    Xilinx's models from shared/vendor (adapted copies: unisim.py)."""
    from compile.rtlsim.node import check_node
    from compile.rtlsim.unisim import UnisimMissing, unisim_dir

    try:
        unisim_dir()
    except UnisimMissing as e:
        if os.environ.get("AMC_REQUIRE_VENDOR"):  # CI sets it: the vendored models must be found there
            raise
        pytest.skip(str(e))
    cfg, _ = tiny_vgg_build
    model = _model(cfg)
    c = check_node(model, "MVAU_rtl_2", tmp_path, _rtllib(), frames=2, ready_prob=0.5, valid_prob=0.5, dsp="unisim")
    assert c.bit_exact, c.first_mismatch
    generated = "".join(p.read_text() for p in (tmp_path / "obj").glob("Vamc_top___024root__*.cpp"))
    assert "DSP48E2" in generated  # the primitives, not the behavioural model


def test_inserted_fifo_and_width_converter_are_bit_exact_alone_under_backpressure(tiny_vgg_build, tmp_path):
    """The layers the stitching inserts (StreamingFIFO_rtl, StreamingDataWidthConverter_rtl), each alone."""
    from compile.rtlsim.node import check_node
    from compile.rtlsim.stitch import stitched_model

    cfg, _ = tiny_vgg_build
    model, _ = stitched_model(_model(cfg), cfg.board.part, cfg.clock_period_ns, tmp_path / "gen", "frame")
    for op in ("StreamingFIFO_rtl", "StreamingDataWidthConverter_rtl"):
        node = model.get_nodes_by_op_type(op)[1]
        c = check_node(model, node.name, tmp_path / node.name, _rtllib(), frames=2, ready_prob=0.5, valid_prob=0.5)
        assert c.bit_exact, (node.name, c.first_mismatch)


def test_make_bitstream_without_vivado_still_says_what_is_missing_after_sizing(simulated):
    """In a fresh process (our RTL layers not registered yet) the hand-off with sized FIFOs is written and
    the missing tools are named, exit 3: not a KeyError for Pool_rtl."""
    import os
    import subprocess
    import sys

    from compile_support import ROOT
    cfg, _, _ = simulated
    env = {k: v for k, v in os.environ.items() if not k.startswith("XILINX_")}
    r = subprocess.run([sys.executable, "-m", "compile.build", "bitstream", str(cfg.model_path), "--out",
                        str(cfg.out_dir), "--reuse"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "XILINX_VIVADO is not set" in r.stderr and "handoff.onnx" in r.stderr


def test_a_residual_network_simulates_whole_with_its_fork_and_add_in_rtl(tiny_dsres_build, tmp_path):
    """tiny_dsres (depthwise-separable blocks with residual adds): its DuplicateStreams and ElementwiseAdd
    are ours in RTL, so the whole accelerator verilates; bit-exact with FIFOs one frame deep and sized, at
    the estimated rate. InsertFIFO's depths may stall where the branches rejoin: said, then sized."""
    from qonnx.core.modelwrapper import ModelWrapper

    from compile.rtlsim.accelerator import simulate_accelerator

    cfg, _ = tiny_dsres_build
    ops = {n.op_type for n in ModelWrapper(str(artefact_path(cfg, "hw_codegen"))).graph.node}
    assert {"DuplicateStreams_rtl", "ElementwiseAdd_rtl"} <= ops, ops
    assert not any(o.endswith("_hls") for o in ops), ops
    cfg = copy_build(cfg, tmp_path)
    logs = []
    sec = simulate_accelerator(cfg, frames=4, log=logs.append)
    assert sec["bit_exact"] and abs(sec["cycles_per_frame_vs_estimate"] - 1) < 0.02, sec
    unsized = sec["fifo_sizing"]["unsized"]
    assert (unsized["cycles_per_frame"] is None) == (unsized["stalls"] is not None)
    if unsized["stalls"]:
        assert any("branches rejoin" in m for m in logs)

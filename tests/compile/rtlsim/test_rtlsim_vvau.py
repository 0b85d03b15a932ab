"""VVAU_rtl off Versal (compile/hwops/vvau_rtl.py): our RTL depthwise convolution, verilated and streamed
against finn-plus's Python model of VVAU at full rate and under random back-pressure and input gaps, on
small standalone nodes (several channel folds with memstream weights; SIMD > 1 with embedded weights);
and the specialisation that makes VVAU_hls nodes ours on UltraScale+."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from node_checks import check_at_rates

pytestmark = pytest.mark.slow

ZCU104_PART = "xczu7ev-ffvc1156-2-e"
VERSAL_PART = "xcvc1902-vsva2197-2MP-e-S"
CLK_NS = 5.0


def _vvau_model(*, op_type, channels, pe, simd, kernel, dim, idt, wdt, mem_mode="internal_decoupled",
                no_activation=1, seed=0):
    """A graph of one VVAU node (no sliding window before it: its input is the hardware stream order)."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import gen_finn_dt_tensor, qonnx_make_model

    k = int(np.prod(kernel))
    idt, wdt = DataType[idt], DataType[wdt]
    rng = np.random.default_rng(seed)
    w = gen_finn_dt_tensor(wdt, (channels, 1, *kernel))
    w.flat[rng.integers(w.size)] = wdt.min()  # the full weight range, not narrow
    acc = int(np.abs(w).reshape(channels, -1).sum(1).max() * max(abs(idt.min()), abs(idt.max())))
    odt = DataType.get_smallest_possible(-acc - 1)
    domain = "finn.custom_op.fpgadataflow" + ("" if op_type == "VVAU" else "." + op_type.rsplit("_", 1)[1])
    node = helper.make_node(
        op_type, ["inp", "w"], ["out"], name=f"{op_type}_0", domain=domain, backend="fpgadataflow",
        PE=pe, SIMD=simd, Dim=list(dim), Channels=channels, Kernel=list(kernel), inputDataType=idt.name,
        weightDataType=wdt.name, outputDataType=odt.name, accDataType=odt.name, noActivation=no_activation,
        mem_mode=mem_mode)
    graph = helper.make_graph(
        [node], "vvau",
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, *dim, k * channels])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, *dim, channels])])
    m = ModelWrapper(qonnx_make_model(graph))
    m.set_initializer("w", w.astype(np.float32))
    m.set_tensor_datatype("inp", idt)
    m.set_tensor_datatype("w", wdt)
    m.set_tensor_datatype("out", odt)
    return m


def _generated(m, tmp_path):
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP

    from compile.finnenv import init_finn

    init_finn(tmp_path / "codegen")
    return m.transform(PrepareIP(ZCU104_PART, CLK_NS))



def test_channel_folds_with_streamed_weights(tmp_path):
    """Unsigned activations, four channel folds (PE < Channels), weights from the memstream."""
    from qonnx.custom_op.registry import getCustomOp

    m = _generated(_vvau_model(op_type="VVAU_rtl", channels=8, pe=2, simd=1, kernel=(3, 1), dim=(6, 1),
                               idt="UINT4", wdt="INT4"), tmp_path)
    inst = getCustomOp(m.graph.node[0])
    assert inst.get_nodeattr("rtl_variant") == "generic"
    files = inst.get_rtl_file_list(abspath=True)
    assert {Path(f).name for f in files} >= set(inst.CORES) and not any("dsp58" in f for f in files)
    check_at_rates(m, "VVAU_rtl_0", tmp_path / "sim")


def test_simd_window_with_embedded_weights(tmp_path):
    """Signed activations, all channels and three kernel positions a beat, weights in the wrapper's ROM."""
    m = _generated(_vvau_model(op_type="VVAU_rtl", channels=4, pe=4, simd=3, kernel=(9, 1), dim=(5, 1),
                               idt="INT8", wdt="INT3", mem_mode="internal_embedded"), tmp_path)
    check_at_rates(m, "VVAU_rtl_0", tmp_path / "sim")


def test_specialize_vvau_off_versal_only(tmp_path):
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    from compile.finnenv import init_finn
    from compile.hwops.vvau_rtl import UnsupportedVVAU, specialize_vvau

    init_finn(tmp_path / "codegen")
    kw = dict(op_type="VVAU", channels=4, pe=1, simd=1, kernel=(3, 1), dim=(4, 1), idt="UINT4", wdt="INT4")
    m = specialize_vvau(_vvau_model(**kw).transform(SpecializeLayers(ZCU104_PART)), ZCU104_PART)
    assert m.graph.node[0].op_type == "VVAU_rtl" and m.graph.node[0].domain.endswith(".rtl")
    m = specialize_vvau(_vvau_model(**kw).transform(SpecializeLayers(ZCU104_PART)), ZCU104_PART, "hls")
    assert m.graph.node[0].op_type == "VVAU_hls"
    m = specialize_vvau(_vvau_model(**kw).transform(SpecializeLayers(VERSAL_PART)), VERSAL_PART)
    assert m.graph.node[0].op_type == "VVAU_rtl"  # finn-plus's own DSP58 variant there (not ours)
    with pytest.raises(UnsupportedVVAU, match="noActivation"):
        kw_act = dict(kw, no_activation=0)
        specialize_vvau(_vvau_model(**kw_act).transform(SpecializeLayers(ZCU104_PART)), ZCU104_PART, "rtl")


def test_weight_memory_costed_by_the_one_lutram_rule():
    """An RTL MVAU's rule (compile/hwops/lutram.py): weights left to synthesis ("auto") at most 64 words deep sit
    in distributed RAM, one LUT per bit per 64 words and no block RAM, in the memstream as in the ROM; "block"
    weights are FINN's block RAM; external weights are no memory of the layer."""
    from qonnx.custom_op.registry import getCustomOp

    from compile.hwops import register

    register()

    def vvau(ram_style, mem_mode="internal_decoupled"):  # 9 words of 4 x 4 bits
        m = _vvau_model(op_type="VVAU_rtl", channels=4, pe=4, simd=1, kernel=(9, 1), dim=(4, 1), idt="UINT4",
                        wdt="INT4", mem_mode=mem_mode)
        inst = getCustomOp(m.graph.node[0])
        inst.set_nodeattr("ram_style", ram_style)
        return inst

    block = vvau("block")
    assert block.bram_estimation(ZCU104_PART) > 0
    for inst in (vvau("auto"), vvau("distributed"), vvau("auto", "internal_embedded")):
        assert inst.lut_estimation(ZCU104_PART) == block.lut_estimation(ZCU104_PART) + 16
        assert inst.bram_estimation(ZCU104_PART) == 0
    assert vvau("auto", "external").lut_estimation(ZCU104_PART) == block.lut_estimation(ZCU104_PART)

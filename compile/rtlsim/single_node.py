"""One FINN layer on its own: a single-node graph built, specialised for a part and its code generated
(PrepareIP), then streamed through Verilator by compile.rtlsim.node.check_node against a chosen copy of
finn-rtllib (as installed, with some of the overlay's patches, or probed with sed). The reproducer of an RTL
defect and the sweep around it (research/mvau_queue_sweep.py) build their nodes here."""
from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ZCU104_PART = "xczu7ev-ffvc1156-2-e"
FIX = "0003-mvu_vvu_axi-output-queue-depth.patch"


def _build_model(node, tensors: dict, part: str, workdir: Path, seed: int = 1):
    """One-node ModelWrapper: `tensors` maps name -> (shape, FINN datatype name, is_initializer)."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.util.basic import gen_finn_dt_tensor, qonnx_make_model

    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    vi = {n: helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, (s, _, init) in tensors.items() if not init}
    graph = helper.make_graph([node], "single_node", [vi[node.input[0]]], [vi[node.output[0]]])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="mvau-queue"))
    rng_state = np.random.get_state()
    np.random.seed(seed)
    for name, (shape, dt, init) in tensors.items():
        model.set_tensor_datatype(name, DataType[dt])
        if init:
            model.set_initializer(name, gen_finn_dt_tensor(DataType[dt], shape))
    np.random.set_state(rng_state)
    model = model.transform(SpecializeLayers(part))
    model = model.transform(GiveUniqueNodeNames())
    workdir.mkdir(parents=True, exist_ok=True)
    model = model.transform(PrepareIP(part, 5.0))
    return model


def mvau_model(simd: int, workdir: Path, *, mh: int = 64, pe: int = 4, idt: str = "UINT4",
               wdt: str = "INT4", part: str = ZCU104_PART):
    """One MVAU node with MW == SIMD (one result per cycle), mem_mode internal_decoupled, specialised
    to MVAU_rtl for `part`, code generated (PrepareIP). Returns (model, node name)."""
    from onnx import helper

    node = helper.make_node(
        "MVAU", ["inp", "weights"], ["outp"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        MW=simd, MH=mh, SIMD=simd, PE=pe, inputDataType=idt, weightDataType=wdt,
        outputDataType="INT32", noActivation=1, binaryXnorMode=0, mem_mode="internal_decoupled", resType="dsp",
        preferred_impl_style="rtl")
    model = _build_model(node, {"inp": ([1, simd], idt, False), "weights": ([simd, mh], wdt, True),
                                "outp": ([1, mh], "INT32", False)}, part, workdir)
    n = model.graph.node[0]
    assert n.op_type == "MVAU_rtl", f"specialised to {n.op_type}, not MVAU_rtl (datatypes/part?)"
    return model, n.name


def vvau_model(simd: int, workdir: Path, *, channels: int = 8, pe: int = 4, dim: int = 4, idt: str = "UINT4",
               wdt: str = "INT4", part: str = "xcvc1902-vsva2197-2MP-e-S"):
    """One VVAU (depthwise) node with SIMD == kernel size (one result per cycle per PE fold), specialised to
    VVAU_rtl (DSP58 only: needs a Versal part). Kernel 1 x SIMD. Returns (model, node name)."""
    from onnx import helper

    k = [1, simd]
    node = helper.make_node(
        "VVAU", ["inp", "weights"], ["outp"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        PE=pe, SIMD=simd, Dim=[dim, dim], Channels=channels, Kernel=k, inputDataType=idt, weightDataType=wdt,
        outputDataType="INT32", noActivation=1, mem_mode="internal_decoupled", resType="dsp",
        preferred_impl_style="rtl")
    model = _build_model(node, {"inp": ([1, dim, dim, simd * channels], idt, False),
                                "weights": ([channels, 1, 1, simd], wdt, True),
                                "outp": ([1, dim, dim, channels], "INT32", False)}, part, workdir)
    n = model.graph.node[0]
    assert n.op_type == "VVAU_rtl", f"specialised to {n.op_type}, not VVAU_rtl"
    return model, n.name


def rtllib_without(dest: Path, exclude: tuple[str, ...] = (FIX,), extra_sed: list[str] = ()) -> Path:
    """finn-rtllib as finn-plus installed it, with the overlay's patches except `exclude` (the Verilator
    syntax patches 0001/0002 stay: the installed add_multi.sv does not verilate), then `extra_sed`
    (sed expressions applied to mvu/mvu_vvu_axi.sv, for probes)."""
    from compile.rtllib import installed_rtllib, patches

    if dest.is_dir():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(installed_rtllib(), tmp)
    for p in patches():
        if p.name not in exclude:
            subprocess.run(["patch", "-p1", "--forward", "--batch", "-d", str(tmp), "-i", str(p)], check=True,
                           capture_output=True)
    for e in extra_sed:
        subprocess.run(["sed", "-i", e, str(tmp / "mvu" / "mvu_vvu_axi.sv")], check=True)
    tmp.rename(dest)
    return dest


@contextmanager
def finn_rtllib(path: Path):
    """finn-plus's `finn_rtllib` setting (read by get_rtl_file_list) pointed at `path` for a while."""
    from finn.util.settings import get_settings

    s = get_settings()
    old = s.finn_rtllib
    s.finn_rtllib = str(path)
    try:
        yield Path(path)
    finally:
        s.finn_rtllib = old


def run_check(model, name: str, rtllib: Path, work: Path, *, frames: int = 32, ready_prob: float = 0.3,
              valid_prob: float = 1.0, seed: int = 0):
    """check_node with finn-plus's rtllib setting and the simulation's rtllib both at `rtllib`."""
    from compile.rtlsim.node import check_node

    with finn_rtllib(rtllib):
        return check_node(model, name, work, rtllib, frames=frames, ready_prob=ready_prob, valid_prob=valid_prob,
                          seed=seed)

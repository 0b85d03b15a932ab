"""One HW layer's RTL against FINN's Python model of it (FINN's per-node rtlsim check, with Verilator).

`check_node(model, name, work_dir, rtllib)` verilates the layer alone (with its weight streamer),
streams random integer frames of its input datatype through it, optionally with random back-pressure
at its output and gaps at its input, and compares every output element with what finn-plus's Python
execution of the layer's generic op computes for the same frames.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .sim import Simulator


@dataclass
class NodeCheck:
    node: str
    op_type: str
    frames: int
    ready_prob: float
    valid_prob: float
    bit_exact: bool
    mismatches: int
    first_mismatch: str | None
    cycles_per_frame: float  # steady state, from the last frames' output spacing
    expected_cycles: int  # FINN's estimate for the layer

    def to_dict(self) -> dict:
        return asdict(self)


#: Layers whose hardware stream order differs from the Python model's tensor order. A depthwise
#: sliding window (the one feeding a Pool or a VVAU) streams (channel fold, kernel position, PE);
#: the Python model of the window and the Pool holds (kernel position, channel), channels innermost.
#: (The Python VVAU reads the hardware order itself unless a window feeds it in the graph it is
#: given: python_reference gives it a graph of its own.)
def _hw_to_python_order(inst, x: np.ndarray, side: str) -> np.ndarray:
    """Reorder a folded stream tensor (hardware order) into the Python model's normal shape."""
    shape = inst.get_normal_input_shape(0) if side == "in" else inst.get_normal_output_shape(0)
    op = inst.onnx_node.op_type
    depthwise_stream = (op.startswith("ConvolutionInputGenerator") and side == "out"
                        and inst.get_nodeattr("depthwise") == 1) or (op.startswith("Pool") and side == "in")
    if not depthwise_stream:
        return x.reshape(x.shape[0], *shape[1:])
    if op.startswith("Pool"):
        pe, k = inst.get_nodeattr("PE"), int(np.prod(inst.get_nodeattr("KernelSize")))
    else:
        pe, k = inst.get_nodeattr("SIMD"), int(np.prod(inst.get_nodeattr("ConvKernelDim")))
    c = shape[-1] // k
    lead = x.shape[:-2]
    hw = x.reshape(*lead, c // pe, k, pe)  # (fold, k, pe)
    py = np.moveaxis(hw, -2, -3)  # (k, fold, pe) = (k, c)
    return py.reshape(x.shape[0], *shape[1:])


def _python_to_hw_order(inst, y: np.ndarray, side: str) -> np.ndarray:
    """Inverse of _hw_to_python_order: the Python model's tensor as the hardware streams it."""
    folded = inst.get_folded_input_shape(0) if side == "in" else inst.get_folded_output_shape(0)
    probe = np.arange(int(np.prod(folded[1:])), dtype=np.int64).reshape(1, *folded[1:])
    perm = _hw_to_python_order(inst, probe, side).reshape(-1)
    flat = y.reshape(y.shape[0], -1)
    out = np.empty_like(flat)
    out[:, perm] = flat
    return out.reshape(y.shape[0], *folded[1:])


def python_reference(model, node_name: str, x_hw: np.ndarray) -> np.ndarray:
    """finn-plus's Python execution of the layer's generic op on hardware-ordered input frames;
    the result in hardware order (folded output shape)."""
    from qonnx.custom_op.registry import getCustomOp

    from ..verify import generalize

    from onnx import helper

    g = generalize(model)
    node = g.get_node_from_name(node_name)
    inst = getCustomOp(node)
    # the node alone in its graph (with its constants): it sees no producer, so it reads its input in
    # stream order (the Python VVAU reorders differently when a sliding window feeds it)
    alone = helper.make_graph([node], "alone", [], [], initializer=[i for i in g.graph.initializer
                                                                    if i.name in node.input])
    spec = getCustomOp(model.get_node_from_name(node_name))
    outs = []
    for i in range(x_hw.shape[0]):
        ctx = {node.input[0]: _hw_to_python_order(spec, x_hw[i: i + 1], "in").astype(np.float32)}
        for t in node.input[1:]:
            ctx[t] = g.get_initializer(t)
        ctx[node.output[0]] = np.zeros(inst.get_normal_output_shape(0), np.float32)
        inst.execute_node(ctx, alone)
        outs.append(_python_to_hw_order(spec, ctx[node.output[0]], "out"))
    return np.concatenate(outs)


def check_node(model, node_name: str, work_dir: Path, rtllib: Path, *, frames: int = 3, ready_prob: float = 1.0,
               valid_prob: float = 1.0, seed: int = 0, dsp: str = "behavioural", log=lambda m: None) -> NodeCheck:
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import gen_finn_dt_tensor

    inst = getCustomOp(model.get_node_from_name(node_name))
    sim = Simulator.build(model, [node_name], work_dir, rtllib, log=log, dsp=dsp)
    np.random.seed(seed)
    x = gen_finn_dt_tensor(inst.get_input_datatype(0), (frames, *inst.get_folded_input_shape(0)[1:]))
    res = sim.run(x, ready_prob=ready_prob, valid_prob=valid_prob, seed=seed)
    want = python_reference(model, node_name, x)
    got = res.output.reshape(want.shape)
    bad = np.argwhere(got != want)
    first = None
    if len(bad):
        i = tuple(bad[0])
        first = f"frame {i[0]}, folded index {i[1:]}: RTL {got[i]:g}, Python {want[i]:g}"
    cpf = res.cycles_per_frame()
    return NodeCheck(node_name, model.get_node_from_name(node_name).op_type, frames, ready_prob, valid_prob,
                     not len(bad) and res.extra_out_beats == 0, int(len(bad)), first, cpf,
                     int(inst.get_exp_cycles()))

"""Unrolled depthwise convs (model/nets/unrolled.py) as FINN VVAUs instead of mostly-zero dense MVAUs.

A depthwise conv unrolled to Q input phases and R output phases arrives here as a dense conv, lowered by
FINN to Im2Col (kernel K over Q·C channels, phase-major: channel q·C + c) and a MatMul whose (K·Q·C) x (R·C)
weight is zero wherever the input channel c_in and the output channel c_out differ: output phase r of
channel c reads only channel c's Q phases. As a dense MVAU that is C times the multipliers it needs (FINN
does not skip zeros), and at P = 8 it bounds the accelerator near 640 cycles per frame in BRAM and DSP.

Each output phase r is a depthwise conv with a [K, Q] kernel over the window: the Im2Col row order
(tap, phase, channel) is exactly the order FINN's VVAU reads a [K, Q]-kernel window in, so the MatMul is
split into R MatMuls of (K·Q·C) x C, each annotated as depthwise with kernel [K, Q] (FINN's own annotation;
InferVectorVectorActivation turns them into VVAUs), fed by the same window (InferDuplicateStreamsLayer forks
it) and joined by a Concat on channels (StreamingConcat), which restores the (phase, channel) order the next
layer was built for. Nothing is approximated: the weights are the same integers.

The window reaches a VVAU in its natural order, not the channel-folded order of a depthwise sliding window,
so such a VVAU must take all its channels at once (PE = C; compile/folding.py enforces it).
"""
from __future__ import annotations

import math

import numpy as np
from onnx import helper
from qonnx.transformation.base import Transformation

from ..folding import divisors

#: Below this many channels per phase the dense MVAU costs at most this many times the multipliers and
#: needs no fork and join (the P = 8 stem: I and Q, 2 channels, 4 output phases), so it is kept.
MIN_CHANNELS = 4


def phase_structure(w: np.ndarray, taps: int, min_channels: int = MIN_CHANNELS) -> tuple[int, int, int] | None:
    """(C, Q, R) if the (taps·Q·C) x (R·C) matrix `w` only connects channel c of each input phase to channel c
    of each output phase, with the largest such C (at least `min_channels`, and more than one phase on some
    side); None if it is not an unrolled depthwise conv."""
    rows, cout = w.shape
    if rows % taps:
        return None
    cin = rows // taps
    for c in reversed(divisors(math.gcd(cin, cout))):
        q, r = cin // c, cout // c
        if c < min_channels or (q == 1 and r == 1):
            continue
        blocks = w.reshape(taps, q, c, r, c)
        off_diagonal = blocks * (1 - np.eye(c))[None, None, :, None, :]
        if not off_diagonal.any():
            return c, q, r
    return None


class LowerUnrolledDepthwise(Transformation):
    """Split each MatMul of an unrolled depthwise conv into one depthwise MatMul per output phase and a Concat.
    Run after streamlining (integer weights, Im2Col lowered), before MatMuls become MVAUs/VVAUs."""

    def __init__(self, min_channels: int = MIN_CHANNELS):
        super().__init__()
        self.min_channels = min_channels

    def apply(self, model):
        from qonnx.custom_op.registry import getCustomOp

        graph = model.graph
        for node in list(graph.node):
            if node.op_type != "MatMul" or model.get_tensor_sparsity(node.input[1]) is not None:
                continue
            producer = model.find_producer(node.input[0])
            w = model.get_initializer(node.input[1])
            if producer is None or producer.op_type != "Im2Col" or w is None:
                continue
            taps = int(np.prod(getCustomOp(producer).get_nodeattr("kernel_size")))
            found = phase_structure(w, taps, self.min_channels)
            if found is None:
                continue
            c, q, r = found
            wdt, odt = model.get_tensor_datatype(node.input[1]), model.get_tensor_datatype(node.output[0])
            out_shape = model.get_tensor_shape(node.output[0])
            blocks = w.reshape(taps * q * c, r, c)
            sparsity = {"dw": {"kernel_shape": [taps, q]}}
            if r == 1:
                model.set_tensor_sparsity(node.input[1], sparsity)
                continue
            index = list(graph.node).index(node)
            parts = []
            for phase in range(r):
                w_name = model.make_new_valueinfo_name()
                model.set_initializer(w_name, np.ascontiguousarray(blocks[:, phase, :]))
                model.set_tensor_datatype(w_name, wdt)
                model.set_tensor_sparsity(w_name, sparsity)
                part = model.make_new_valueinfo_name()
                model.set_tensor_shape(part, list(out_shape[:-1]) + [c])
                model.set_tensor_datatype(part, odt)
                graph.node.insert(index + phase, helper.make_node("MatMul", [node.input[0], w_name], [part],
                                                                  name=f"{node.name}_phase{phase}"))
                parts.append(part)
            graph.node.insert(index + r, helper.make_node("Concat", parts, [node.output[0]], axis=len(out_shape) - 1,
                                                          name=f"{node.name}_phases"))
            graph.node.remove(node)
        return model, False

"""A polyphase input view, moved from the graph to the host.

A network that takes P I/Q samples per step (model/nets/ours.py `polyphase=P`) starts its graph with
data movement only: the (1, 2, L) frame is read as (1, 2P, L/P), channel 2p + i holding sample P t + p of
I (i = 0) or Q (i = 1). Channels last, that is the (L, 2) interleaved frame reshaped to (L/P, 2P): the
same bytes, so the host does it for free and the accelerator's input stream carries 2P codes per beat,
P samples per clock. FINN has no use for the Transpose/Reshape/Transpose chain that expresses it (and
qonnx's 1-D to 2-D conversion cannot reshape it), so the build takes it out of the graph, checks that it
is exactly that view, and records P; the verifier, the RTL simulation and the driver apply the same view
to the codes (`polyphase_view`).
"""
from __future__ import annotations

import numpy as np
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name

from amc_cli import RefusedInput

#: Model metadata key holding P once the view has been moved to the host.
POLYPHASE_PROP = "amc_input_polyphase"
#: Ops that only move data; a chain of them right after the input (and its scalar dequantisation) is
#: a candidate view.
VIEW_OPS = ("Transpose", "Reshape")
#: Scalar elementwise ops that the host-input dequantisation leaves between the input and the view.
SCALAR_OPS = ("Sub", "Mul")


class InputViewError(RefusedInput):
    pass


def polyphase_view(codes: np.ndarray, p: int) -> np.ndarray:
    """(N, 2, L) -> (N, 2P, L/P): the frame's P-sample rows, channels first (P = 1: unchanged)."""
    if p == 1:
        return codes
    n, c, length = codes.shape
    if length % p:
        raise InputViewError(f"polyphase {p} does not divide the frame length {length}")
    return codes.transpose(0, 2, 1).reshape(n, length // p, c * p).transpose(0, 2, 1)


def polyphase_of(model) -> int:
    """P recorded on a graph whose view was moved to the host; 1 otherwise."""
    v = model.get_metadata_prop(POLYPHASE_PROP)
    return int(v) if v else 1


def _apply_chain(model, nodes, x: np.ndarray) -> np.ndarray:
    for n in nodes:
        if n.op_type == "Transpose":
            perm = get_by_name(n.attribute, "perm")
            x = np.transpose(x, list(perm.ints) if perm is not None else None)
        else:
            shape = model.get_initializer(n.input[1])
            if shape is None:
                raise InputViewError(f"{n.name}: Reshape with a computed shape is not a static view")
            x = x.reshape([int(d) for d in np.asarray(shape)])
    return x


def _view_chain(model):
    """(tensor feeding the chain, chain nodes) for the Transpose/Reshape run after the graph input and
    its scalar dequantisation ops; the node list is empty when there is none."""
    src = model.graph.input[0].name
    while True:
        consumers = model.find_consumers(src) or []
        if len(consumers) != 1:
            return src, []
        n = consumers[0]
        consts = [model.get_initializer(t) for t in n.input]
        scalar = all(c is None or np.asarray(c).size == 1 for c in consts)
        if n.op_type in SCALAR_OPS and scalar:
            src = n.output[0]
            continue
        break
    chain, t = [], src
    while True:
        consumers = model.find_consumers(t) or []
        if len(consumers) != 1 or consumers[0].op_type not in VIEW_OPS:
            return src, chain
        chain.append(consumers[0])
        t = consumers[0].output[0]


class MoveViewToHost(Transformation):
    """Take a leading polyphase view out of the graph (the graph input becomes (1, 2P, L/P)) and record
    P for the host; a graph without such a chain is left as it is. A chain that is not exactly a polyphase
    view is refused with what it does instead."""

    def apply(self, model):
        from qonnx.util.cleanup import cleanup_model

        src, chain = _view_chain(model)
        if not chain:
            return model, False
        iname = model.graph.input[0].name
        ishape = [int(d) for d in model.get_tensor_shape(iname)]
        if len(ishape) != 3:
            raise InputViewError(f"a data-movement chain ({', '.join(n.op_type for n in chain)}) follows the input "
                                 f"of shape {ishape}; only a (1, C, L) frame's polyphase view can move to the host")
        idx = np.arange(int(np.prod(ishape)), dtype=np.int64).reshape(ishape)
        out = _apply_chain(model, chain, idx)
        c, length = ishape[1], ishape[2]
        p = out.shape[1] // c if out.ndim == 3 and out.shape[1] % c == 0 else 0
        if p < 1 or not np.array_equal(out, polyphase_view(idx, p)):
            raise InputViewError(
                f"the input is followed by {', '.join(n.name + ' (' + n.op_type + ')' for n in chain)}, giving shape "
                f"{list(out.shape)}, which is not a polyphase view (1, 2P, L/P) of the (1, {c}, {length}) frame; "
                "the build moves only that view to the host")
        tail = chain[-1].output[0]
        if any(o.name == tail for o in model.graph.output):
            raise InputViewError("the graph is only a view of its input")
        for n in model.graph.node:
            for i, t in enumerate(n.input):
                if t == tail:
                    n.input[i] = src
        for n in chain:
            model.graph.node.remove(n)
        model.set_tensor_shape(iname, list(out.shape))
        for vi in list(model.graph.value_info):  # shapes between the input and the view are re-inferred
            if vi.name != iname:
                model.graph.value_info.remove(vi)
        model.set_metadata_prop(POLYPHASE_PROP, str(p))
        return cleanup_model(model), False

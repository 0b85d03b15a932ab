"""Streamlining through forks and residual joins: float scales, biases and layout transposes that FINN's
Streamline leaves between integer layers where the graph branches. Each pass here runs only while such
nodes remain (`float_between_layers`), a bounded number of rounds: FINN's own passes first (those its ResNet
builds use), finn-plus's exhaustive StreamlinePlus (slow on a full-size net) only if they are not enough."""
from __future__ import annotations

from qonnx.transformation.base import Transformation

from .transposes import SettleTransposes

_LAYER_OPS = {"MatMul", "MultiThreshold", "Im2Col", "MaxPoolNHWC", "MaxPool", "Conv"}


def float_between_layers(model) -> bool:
    """A float Mul/Add/Sub/Div, or a transpose that is not the NHWC->FC hand-over into a Flatten/Reshape (which
    RemoveCNVtoFCFlatten handles), between the first layer and the last MultiThreshold."""
    ops = [n.op_type for n in model.graph.node]
    first = next((i for i, o in enumerate(ops) if o in _LAYER_OPS), None)
    last = max((i for i, o in enumerate(ops) if o == "MultiThreshold"), default=None)
    if first is None or last is None:
        return False
    for n in model.graph.node[first:last]:
        if n.op_type in ("Mul", "Add", "Sub", "Div"):
            if any(model.get_tensor_datatype(t).name == "FLOAT32" for t in list(n.input) + list(n.output)):
                return True
        elif n.op_type == "Transpose":
            if not all(c.op_type in ("Flatten", "Reshape") for c in model.find_consumers(n.output[0]) or []):
                return True
    return False


class _WhileFloatLeft(Transformation):
    """`passes()` then transposes settled, round after round, while float nodes remain between layers."""

    def __init__(self, rounds: int):
        super().__init__()
        self.rounds = rounds

    def passes(self) -> list[Transformation]:
        raise NotImplementedError

    def apply(self, model):
        for _ in range(self.rounds):
            if not float_between_layers(model):
                break
            for tr in self.passes() + [SettleTransposes()]:
                model = model.transform(tr)
        return model, False


class StreamlineForksAndJoins(_WhileFloatLeft):
    """FINN's MoveLinearPastFork, MoveLinearPastEltwiseAdd, MoveScalarLinearPastInvariants, then Streamline."""

    def __init__(self, rounds: int = 3):
        super().__init__(rounds)

    def passes(self):
        from finn.transformation.streamline import Streamline
        from finn.transformation.streamline.reorder import (
            MoveLinearPastEltwiseAdd,
            MoveLinearPastFork,
            MoveScalarLinearPastInvariants,
        )

        return [MoveLinearPastFork(), MoveLinearPastEltwiseAdd(), MoveScalarLinearPastInvariants(), Streamline()]


class StreamlineExhaustively(_WhileFloatLeft):
    """finn-plus's StreamlinePlus, its exhaustive residual streamliner."""

    def __init__(self, rounds: int = 2):
        super().__init__(rounds)

    def passes(self):
        from finn.transformation.streamline.streamline_plus import StreamlinePlus

        return [StreamlinePlus()]

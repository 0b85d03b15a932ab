"""Streamlining for parallel branches: one tensor forked into several convolutions, joined by a Concat
(AaronNet32++'s stem, tests/fixtures/compile/tiny_concat). Two things FINN's streamlining leaves:

- Channel-wise scale and bias constants in NHWC form without a layout. Streamlining moves per-branch
  BatchNorm scales and biases past the Concat (FINN's MoveAffinePastJoinConcat, via StreamlinePlus) and
  past the layout transposes, so a Mul or Add before a MultiThreshold can hold a (1, 1, 1, C) constant
  with no layout annotation. FINN's AbsorbAdd/MulIntoMultiThreshold then guess the layout from its rank
  (NCHW for rank 4), find one channel and leave the node, which makes the partition fail. Annotated NHWC
  (as the tensor it scales is), FINN's own absorption takes it: FINN's Streamline runs again.
- One layout transpose per branch. Lowering each convolution gives each its own NCHW -> NHWC Transpose of
  the same tensor; left so, the fork happens before them and every branch gets a Shuffle layer in
  hardware. Identical transposes of one tensor are merged into one, so the fork follows it (and the
  graph input's transpose stays on the host).
"""
from __future__ import annotations

from qonnx.core.data_layout import NHWC
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name


def _unannotated_nhwc_params(model) -> list[str]:
    """Initializers of Mul/Add nodes shaped (1, 1, 1, C), C > 1, scaling an NHWC tensor, without a layout."""
    names = []
    for n in model.graph.node:
        if n.op_type not in ("Mul", "Add") or len(n.input) != 2:
            continue
        data, param = n.input
        p = model.get_initializer(param)
        if p is None or p.ndim != 4 or list(p.shape[:3]) != [1, 1, 1] or p.shape[3] == 1:
            continue
        if model.get_tensor_layout(data) == NHWC and model.get_tensor_layout(param) is None:
            names.append(param)
    return names


def absorb_nhwc_channel_params(model):
    """Annotate such constants NHWC and streamline again, if there are any (otherwise the model as is)."""
    from qonnx.transformation.infer_data_layouts import InferDataLayouts

    from finn.transformation.streamline import Streamline

    model = model.transform(InferDataLayouts())
    names = _unannotated_nhwc_params(model)
    if not names:
        return model
    for name in names:
        model.set_tensor_layout(name, NHWC)
    return model.transform(Streamline())


def _perm(node) -> tuple:
    perm = get_by_name(node.attribute, "perm")
    return tuple(perm.ints) if perm is not None else ()


def merge_sibling_transposes(model):
    """Transposes of one tensor with the same perm -> the first of them, feeding all their consumers."""
    outputs = {o.name for o in model.graph.output}
    for tensor in {t for n in model.graph.node for t in n.input}:
        groups: dict[tuple, list] = {}
        for c in model.find_consumers(tensor) or []:
            if c.op_type == "Transpose" and c.output[0] not in outputs:
                groups.setdefault(_perm(c), []).append(c)
        for same in groups.values():
            keep, *drop = same  # find_consumers lists them in graph order: keep comes first
            for d in drop:
                for c in model.find_consumers(d.output[0]) or []:
                    for i, t in enumerate(c.input):
                        if t == d.output[0]:
                            c.input[i] = keep.output[0]
                model.graph.node.remove(d)
    return model


class StreamlineBranches(Transformation):
    """Sibling transposes merged, NHWC channel constants annotated and absorbed (no-ops on graphs without
    them)."""

    def apply(self, model):
        return absorb_nhwc_channel_params(merge_sibling_transposes(model)), False

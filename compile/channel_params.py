"""Channel-wise scale and bias constants in NHWC form, annotated so FINN can absorb them into thresholds.

After streamlining moves per-branch BatchNorm scales and biases past a Concat (FINN's
MoveAffinePastJoinConcat, via StreamlinePlus) and past the layout transposes, a Mul or Add before a
MultiThreshold can hold a (1, 1, 1, C) constant with no layout annotation. FINN's
AbsorbAdd/MulIntoMultiThreshold then guess the constant's layout from its rank (NCHW for rank 4), find
one channel and leave the node in the graph, where it makes the partition fail. Annotating the constant
NHWC (as the tensor it scales is) lets FINN's own absorption work; FINN's Streamline then runs again.
"""
from __future__ import annotations

from qonnx.core.data_layout import NHWC


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

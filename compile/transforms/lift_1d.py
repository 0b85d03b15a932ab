"""1-D graphs to FINN's 2-D form, for graphs with ops qonnx's Change3DTo4DTensors refuses.

FINN's convolution lowering and HW layers are 2-D, so a 1-D model's (N, C, W) tensors become
(N, C, W, 1). qonnx 1.0.0's Change3DTo4DTensors does that, but only for a fixed list of op types
(Conv, MaxPool, Mul, Add, MultiThreshold, Reshape, ...): a graph holding any other op (Concat,
GlobalMaxPool, GlobalAveragePool, AveragePool, ...) is left 3-D as a whole, with a warning. Networks
with parallel branches or a global pool (AaronNet32++, BacalhauNet-style exports) hold such ops.

This module keeps qonnx's transformation for everything it knows and handles the rest around it:
- GlobalMaxPool on (N, C, W) becomes MaxPool with a kernel over the whole W (an op qonnx lifts, and
  the form FINN's streamlining and our HW conversion, compile/transforms/global_pool.py, know);
- the other ops in LIFTED_HERE are taken out of the graph while qonnx converts it (their inputs and
  outputs become temporary graph outputs and inputs, which qonnx lifts like every tensor), then put
  back with their attributes made 4-D (a negative axis counted from the front, 1-D pooling windows
  given their second dimension).
"""
from __future__ import annotations

import numpy as np
from qonnx.transformation.base import Transformation

#: op types qonnx 1.0.0's Change3DTo4DTensors converts itself (its _find_invalid_nodes list)
QONNX_LIFTS = {"Add", "Mul", "BatchNormalization", "MultiThreshold", "Conv", "Transpose", "LogSoftmax",
               "ArgMax", "Div", "TopK", "MatMul", "Flatten", "Reshape", "MaxPool", "Upsample", "Resize"}
#: op types lifted here: their rank stays 3 -> 4, so only axis/window attributes change
AXIS_OPS = {"Concat", "Split"}
WINDOW_OPS = {"AveragePool"}
REDUCE_OPS = {"ReduceMax", "ReduceMean", "ReduceSum"}
SHAPE_FREE_OPS = {"GlobalAveragePool", "GlobalMaxPool", "Relu"}
LIFTED_HERE = AXIS_OPS | WINDOW_OPS | REDUCE_OPS | SHAPE_FREE_OPS
OLD_RANK = 3


class LiftError(ValueError):
    """A 1-D graph that cannot be converted to 4-D tensors (names the op and why)."""


def _attr(node, name):
    return next((a for a in node.attribute if a.name == name), None)


def global_max_to_max_pool(model):
    """GlobalMaxPool over (N, C, W) -> MaxPool(kernel W, stride W): the same values, as an op that
    qonnx lifts and FINN streamlines (MakeMaxPoolNHWC, MoveMaxPoolPastMultiThreshold)."""
    from onnx import helper

    for i, node in enumerate(list(model.graph.node)):
        if node.op_type != "GlobalMaxPool":
            continue
        shape = model.get_tensor_shape(node.input[0])
        if shape is None or len(shape) != OLD_RANK:
            continue
        w = int(shape[-1])
        new = helper.make_node("MaxPool", [node.input[0]], [node.output[0]], name=node.name,
                               kernel_shape=[w], strides=[w], pads=[0, 0])
        idx = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(idx, new)
    return model


def _make_4d(node) -> None:
    """The attributes of a node lifted here, for (N, C, W, 1) tensors."""
    op = node.op_type
    if op in AXIS_OPS:
        a = _attr(node, "axis")
        if a is not None and a.i < 0:
            a.i += OLD_RANK
    elif op in REDUCE_OPS:
        keep = _attr(node, "keepdims")
        if keep is not None and keep.i == 0:
            raise LiftError(f"{node.name}: {op} with keepdims=0 changes the rank; export it with "
                            "keepdims=1 to compile a 1-D model")
        axes = _attr(node, "axes")
        if axes is not None:
            vals = [x + OLD_RANK if x < 0 else x for x in axes.ints]
            del axes.ints[:]
            axes.ints.extend(vals)
        elif len(node.input) > 1:
            raise LiftError(f"{node.name}: {op} with axes as an input is not supported on 1-D models; "
                            "export it with opset < 18 (axes as an attribute)")
    elif op in WINDOW_OPS:
        for name, extra in (("kernel_shape", [1]), ("strides", [1]), ("dilations", [1])):
            a = _attr(node, name)
            if a is not None and len(a.ints) == 1:
                a.ints.extend(extra)
        pads = _attr(node, "pads")
        if pads is not None and len(pads.ints) == 2:  # [w_begin, w_end] -> [w_b, 0, w_e, 0]
            b, e = pads.ints
            del pads.ints[:]
            pads.ints.extend([b, 0, e, 0])


def _lift_shape(model, name: str) -> None:
    shape = model.get_tensor_shape(name)
    if shape is not None and len(shape) == OLD_RANK:
        model.set_tensor_shape(name, [*shape, 1])


def _lift(model):
    """(N, C, W) tensors -> (N, C, W, 1): qonnx's Change3DTo4DTensors, extended to LIFTED_HERE."""
    from onnx import helper
    from qonnx.transformation.change_3d_tensors_to_4d import Change3DTo4DTensors
    from qonnx.transformation.infer_shapes import InferShapes

    model = global_max_to_max_pool(model)
    unknown = sorted({n.op_type for n in model.graph.node} - QONNX_LIFTS - LIFTED_HERE)
    if unknown:
        raise LiftError(f"cannot convert this 1-D graph to 4-D tensors: no rule for op(s) {unknown}; "
                        f"known: {sorted(QONNX_LIFTS | LIFTED_HERE)}")
    g = model.graph
    held = [(i, n) for i, n in enumerate(g.node) if n.op_type in LIFTED_HERE]
    if not held:
        return model.transform(Change3DTo4DTensors())
    outer_in = {t.name for t in g.input}
    outer_out = {t.name for t in g.output}
    inits = {t.name for t in g.initializer}
    held_nodes = [n for _, n in held]
    # constants only held nodes read would be dropped by qonnx's RemoveUnusedTensors: keep them aside
    others_read = {t for n in g.node if n not in held_nodes for t in n.input}
    consts = {t: model.get_initializer(t) for n in held_nodes for t in n.input
              if t in inits and t not in others_read}
    temp_in, temp_out = [], []
    for n in held_nodes:
        for t in n.output:
            if t not in outer_in and t not in temp_in:
                temp_in.append(t)
        for t in n.input:
            if t and t not in consts and t not in outer_out and t not in outer_in and t not in temp_out \
                    and t not in inits:
                temp_out.append(t)
    temp_out = [t for t in temp_out if t not in temp_in]  # held -> held: lifted as a temporary input
    shapes = {t: model.get_tensor_shape(t) for t in temp_in + temp_out}
    missing = [t for t, s in shapes.items() if s is None]
    if missing:
        raise LiftError(f"tensor(s) {missing} around {[n.name for n in held_nodes]} have no known shape")
    for vi in [v for v in g.value_info if v.name in shapes]:
        g.value_info.remove(vi)
    for t in temp_in:
        g.input.append(helper.make_tensor_value_info(t, 1, shapes[t]))
    for t in temp_out:
        g.output.append(helper.make_tensor_value_info(t, 1, shapes[t]))
    for n in held_nodes:
        g.node.remove(n)
    for t in consts:
        g.initializer.remove(next(x for x in g.initializer if x.name == t))

    model = model.transform(Change3DTo4DTensors())
    g = model.graph

    lifted = {t: model.get_tensor_shape(t) for t in temp_in + temp_out}
    for t in temp_in:
        g.input.remove(next(x for x in g.input if x.name == t))
    for t in temp_out:
        g.output.remove(next(x for x in g.output if x.name == t))
    for t, s in lifted.items():
        model.set_tensor_shape(t, s)
    for t, v in consts.items():
        v = np.asarray(v)
        model.set_initializer(t, v.reshape(*v.shape, 1) if v.ndim == OLD_RANK else v)
    for i, n in held:
        _make_4d(n)
        g.node.insert(i, n)
    for t in temp_in + temp_out:
        _lift_shape(model, t)
    return model.transform(InferShapes())


def _two_d_dilations(model) -> None:
    """qonnx 1.0.0 leaves a lifted MaxPool's `dilations` one-dimensional, which onnxruntime rejects."""
    for node in model.get_nodes_by_op_type("MaxPool") + model.get_nodes_by_op_type("AveragePool"):
        kernel = next((a for a in node.attribute if a.name == "kernel_shape"), None)
        for a in node.attribute:
            if a.name == "dilations" and kernel is not None and len(a.ints) < len(kernel.ints):
                a.ints.extend([1] * (len(kernel.ints) - len(a.ints)))


class LiftTo4D(Transformation):
    """A 1-D graph, input (N, C, W), becomes 4-D, (N, C, W, 1), as FINN's 2-D layers need;
    any other graph is left as it is. LiftError names an op without a rule."""

    def apply(self, model):
        shape = model.get_tensor_shape(model.graph.input[0].name)
        if shape is None or len(shape) != OLD_RANK:
            return model, False
        model = _lift(model)
        new_shape = model.get_tensor_shape(model.graph.input[0].name)
        if new_shape is None or len(new_shape) != OLD_RANK + 1:
            ops = sorted({n.op_type for n in model.graph.node})
            raise LiftError("Change3DTo4DTensors did not convert the graph to 4-D (it refuses graphs with ops it "
                            f"does not know); ops present: {ops}")
        _two_d_dilations(model)
        return model, False

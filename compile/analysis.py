"""Analyses of a graph (qonnx's analysis contract: a function of the model returning a dict) for the flow's
artefacts and messages: what the host runs around the accelerator, and why layers stayed float."""
from __future__ import annotations

import numpy as np


def _plain(value):
    """An ONNX attribute value as JSON can hold it (bytes decoded)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (list, tuple)):
        return [x.decode() if isinstance(x, bytes) else x for x in value]
    return value


def host_ops(parent) -> dict:
    """The parent graph's nodes before ("pre") and after ("post") its dataflow partition, with their
    attributes and constants: what the host computes around the accelerator."""
    from onnx import helper

    out, side = {"pre": [], "post": []}, "pre"
    for n in parent.graph.node:
        if n.op_type == "StreamingDataflowPartition":
            side = "post"
            continue
        entry = {"op_type": n.op_type, "name": n.name,
                 "attributes": {a.name: _plain(helper.get_attribute_value(a)) for a in n.attribute}}
        consts = {t: np.asarray(v).tolist() for t in n.input if (v := parent.get_initializer(t)) is not None}
        if consts:
            entry["constants"] = consts
        out[side].append(entry)
    return out


def float_layer_hints(model) -> dict:
    """{"hints": [...]}: why layers stayed float, each with what to change in the model."""
    return {"hints": join_scale_hints(model) + unquantized_input_hints(model)}


def join_scale_hints(model) -> list[str]:
    """Residual adds left float: integer operands on two scales that the streamline step could not make exact
    in integers (the reason it recorded). Adds it rescaled are not listed."""
    from .transforms.residual_rescale import recorded, two_scale_adds

    reasons = {o.add: o.reason for o in recorded(model) if not o.done}
    return [f"{n.name} adds {a.dtype} x {a.scale:.6g} and {b.dtype} x {b.scale:.6g}: integer operands on "
            "different scales (ratio {:.6g}) not made exact in integers ({}), so the sum stays float; "
            "quantize both operands of the add with one shared quantizer".format(
                b.scale / a.scale, reasons.get(n.name, "not tried"))
            for n, a, b in two_scale_adds(model)]


def unquantized_input_hints(model) -> list[str]:
    """Layers that read float activations: the model quantizes none before them (AaronNet32++'s depthwise
    convolutions read BatchNorm outputs directly), and FINN's HW layers take integers only."""
    bad = [n for n in model.graph.node if n.op_type in ("Im2Col", "MatMul")
           and model.get_initializer(n.input[0]) is None
           and not model.get_tensor_datatype(n.input[0]).is_integer()]
    if not bad:
        return []
    layers = sum(n.op_type == "MatMul" for n in bad)  # a convolution is Im2Col + MatMul: count it once
    return [f"{layers} layer(s) read float activations, first {bad[0].name} ({bad[0].op_type}, input "
            f"{bad[0].input[0]}): the model has no activation quantizer before them and FINN's layers need "
            "integers; quantize those activations in the model (e.g. a QuantIdentity) and export again, or insert "
            "calibrated quantizers with `python -m compile.requantize MODEL --frames FILE.h5` (changes what the "
            "model computes; it reports by how much)"]

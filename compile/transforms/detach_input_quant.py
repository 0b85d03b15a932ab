"""The input quantizer taken out of the accelerator (as finn-examples does): the graph input becomes the
integer codes io.json describes, followed by the dequantisation (Sub zero point, Mul scale) that streamlining
folds into the first layer's thresholds. The host and the driver quantize float I/Q with the same numbers, so
the graph's Quant node must agree with io.json; a disagreement is refused, naming each field."""
from __future__ import annotations

import json

import numpy as np
from qonnx.transformation.base import Transformation

from amc_cli import RefusedInput


class InputQuantError(RefusedInput):
    """The graph's input quantizer cannot move to the host as io.json describes it."""


def _disagreements(graph_quant, quant) -> list[str]:
    out = [f"{k}: graph {getattr(graph_quant, k)} vs io.json {getattr(quant, k)}"
           for k in ("bit_width", "signed", "narrow") if getattr(graph_quant, k) != getattr(quant, k)]
    if not np.isclose(graph_quant.scale, quant.scale, rtol=1e-6, atol=0):
        out.append(f"scale: graph {graph_quant.scale} vs io.json {quant.scale}")
    if not np.isclose(graph_quant.zero_point, quant.zero_point):
        out.append(f"zero_point: graph {graph_quant.zero_point} vs io.json {quant.zero_point}")
    return out


class DetachInputQuant(Transformation):
    """The Quant node on the graph input replaced by its dequantisation; the input annotated with the codes'
    integer type and the quantizer recorded in the metadata (`amc_input_quant`). A graph whose input is
    already integer is left as it is. `quant` is io.json's input.quant (compile.iodesc.InputQuant or None)."""

    def __init__(self, quant):
        super().__init__()
        self.quant = quant

    def apply(self, model):
        from onnx import helper
        from qonnx.core.datatype import DataType
        from qonnx.util.cleanup import cleanup_model

        from ..iodesc import quant_from_graph

        model = cleanup_model(model)
        iname = model.graph.input[0].name
        consumers = model.find_consumers(iname) or []
        quants = [n for n in consumers if n.op_type == "Quant"]
        q = self.quant
        if not quants:
            dt = model.get_tensor_datatype(iname)
            if dt is not None and dt.is_integer():
                return model, False  # already takes integer codes
            raise InputQuantError(
                f"the graph input {iname} is float and feeds no Quant node; the accelerator needs "
                "integer input (an input quantizer in the model, described by io.json input.quant)")
        if len(consumers) != 1:
            raise InputQuantError(f"graph input {iname} feeds {len(consumers)} nodes, expected exactly one "
                                  "input Quant node")
        if q is None:
            raise InputQuantError(f"the graph quantizes its input ({quants[0].name}) but io.json says "
                                  "input.quant is null")
        mismatch = _disagreements(quant_from_graph(model), q)
        if mismatch:
            raise InputQuantError("io.json input.quant disagrees with the graph's input Quant node: "
                                  + "; ".join(mismatch))
        qn = quants[0]
        idx = list(model.graph.node).index(qn)
        model.graph.node.remove(qn)
        src, new = iname, []
        if q.zero_point != 0:
            model.set_initializer("host_in_zero_point", np.asarray(q.zero_point, dtype=np.float32))
            new.append(helper.make_node("Sub", [src, "host_in_zero_point"], ["host_in_centered"],
                                        name="HostInputZeroPoint"))
            src = "host_in_centered"
        model.set_initializer("host_in_scale", np.asarray(q.scale, dtype=np.float32))
        new.append(helper.make_node("Mul", [src, "host_in_scale"], [qn.output[0]], name="HostInputScale"))
        for i, n in enumerate(new):
            model.graph.node.insert(idx + i, n)
        model.set_tensor_datatype(iname, DataType[q.finn_datatype])
        model.set_metadata_prop("amc_input_quant", json.dumps(q.__dict__))
        return cleanup_model(model), False

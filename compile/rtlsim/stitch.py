"""The accelerator as it is stitched for the bitstream: FINN's width converters and FIFOs between layers.

finn-plus's builder inserts StreamingDataWidthConverters (InsertDWC) where a producer's stream width
differs from its consumer's, and StreamingFIFOs (InsertFIFO) on every stream, with depths from each
layer's `inFIFODepths`/`outFIFODepths`. `stitched_model` does the same on the build's last artefact,
generates the new layers' RTL, and sets the FIFO depths it is given: one per FIFO, keyed by the
stream it sits on (`FifoSite`), which is also how sized depths go back into folding.json for
`make bitstream`.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_INITIAL_DEPTH = 16384  # fifo.sv moves to URAM past 2028 entries; a frame-deep FIFO never fills


@dataclass(frozen=True)
class FifoSite:
    """Where a FIFO sits: before input `index` of `node` (side "in"), or after output `index` of a node
    whose stream leaves the accelerator (side "out")."""

    node: str
    side: str
    index: int

    @property
    def attr(self) -> str:
        return "inFIFODepths" if self.side == "in" else "outFIFODepths"

    def label(self) -> str:
        return f"{self.node}.{self.side}{self.index}"


INSERTED = ("StreamingFIFO", "StreamingDataWidthConverter")  # layers the stitching adds


def fifo_sites(model) -> dict[str, FifoSite]:
    """FIFO node name -> its site: the input of the layer it feeds, or, where it feeds an inserted width
    converter or leaves the accelerator, the output of the layer that feeds it (InsertFIFO takes the
    larger of the two layers' depth attributes, and an inserted layer has none of ours)."""
    sites = {}
    for n in model.graph.node:
        if not n.op_type.startswith("StreamingFIFO"):
            continue
        consumers = model.find_consumers(n.output[0]) or []
        c = consumers[0] if consumers else None
        if c is not None and not c.op_type.startswith(INSERTED):
            sites[n.name] = FifoSite(c.name, "in", list(c.input).index(n.output[0]))
            continue
        p = model.find_producer(n.input[0])
        if p is None or p.op_type.startswith(INSERTED):
            raise RuntimeError(f"{n.name} sits between two inserted layers; its depth has no layer to live on")
        sites[n.name] = FifoSite(p.name, "out", list(p.output).index(n.input[0]))
    return sites


def _beats_per_frame(inst) -> int:
    return int(np.prod(inst.get_folded_output_shape(0)[:-1]))


def stitched_model(model, part: str, clock_period_ns: float, gen_dir: Path,
                   depths: dict[FifoSite, int] | str | None = None):
    """`model` (the build's last accelerator artefact, code generated) with FINN's DWCs and FIFOs, their
    RTL generated. FIFO depths: None keeps what InsertFIFO sets from the layers' FIFO depth attributes
    (as `make bitstream` builds it: 2 unless folding.json sets them); "frame" makes every FIFO one frame
    of its producer's stream deep (capped at MAX_INITIAL_DEPTH), so that none fills within a frame (the
    sizing run); a dict sets the depth of each site it names. Returns (model, sites)."""
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    before = [n.name for n in model.graph.node]
    m = model.transform(InsertDWC())
    m = m.transform(SpecializeLayers(part))
    m = m.transform(InsertFIFO(create_shallow_fifos=True))
    m = m.transform(SpecializeLayers(part))
    m = m.transform(GiveUniqueNodeNames())
    m = m.transform(InferShapes()).transform(InferDataTypes())
    after = [n.name for n in m.graph.node if not n.op_type.startswith(("StreamingFIFO", "StreamingDataWidthConverter"))]
    if after != before:
        raise RuntimeError(f"stitching renamed the accelerator's layers ({before} -> {after})")
    sites = fifo_sites(m)
    for name, site in sites.items():
        node = m.get_node_from_name(name)
        fifo = getCustomOp(node)
        if depths == "frame":
            producer = m.find_producer(node.input[0])
            src = getCustomOp(producer) if producer is not None else fifo
            fifo.set_nodeattr("depth", min(MAX_INITIAL_DEPTH, max(2, _beats_per_frame(src))))
        elif isinstance(depths, dict) and site in depths:
            fifo.set_nodeattr("depth", int(depths[site]))
        fifo.set_nodeattr("impl_style", "rtl")
    for n in m.graph.node:  # code generation for the inserted layers only, into known folders
        inst = getCustomOp(n)
        cg = inst.get_nodeattr("code_gen_dir_ipgen")
        if cg and Path(cg).is_dir():
            continue
        d = Path(gen_dir) / n.name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        inst.set_nodeattr("code_gen_dir_ipgen", str(d.resolve()))
        inst.code_generation_ipgen(m, part, clock_period_ns)
    return m, sites


def fifo_resources(model, part: str) -> dict[str, float]:
    """FINN's resource estimates of the model's FIFOs, summed (LUT, BRAM_18K, URAM)."""
    from qonnx.custom_op.registry import getCustomOp

    tot = {"LUT": 0.0, "BRAM_18K": 0.0, "URAM": 0.0}
    for n in model.graph.node:
        if n.op_type.startswith("StreamingFIFO"):
            r = getCustomOp(n).node_res_estimation(part)
            for k in tot:
                tot[k] += float(r.get(k, 0))
    return tot

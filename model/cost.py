"""The challenge's inference cost of any QONNX file, with the arithmetic it does not count named.

The numbers come from qonnx's own `inference_cost` (shape and datatype inference, constant folding,
sparsity discounted), as the challenge scored entries; this module adds a per-layer table, the score,
and an honest list of what was counted as free:

- `unsupported_ops`: operators the cost function does not know (Pow, ReduceSum, GlobalMaxPool, Atan, ...).
  qonnx counts them as zero; a model can hide real arithmetic there.
- `free_arithmetic`: elementwise Add/Sub/Mul/Div on activations that the rules count as free: either
  activation by activation (residual adds, x*x in a moment computation) or activation by a constant
  tensor larger than a per-channel vector (a DFT table applied by Mul and ReduceSum is a matrix product
  in disguise). Per-tensor and per-channel scales and biases are quantization and BatchNorm scaffolding,
  which a dataflow build folds into thresholds, and are not listed. A hardware build pays for the rest.

Needs qonnx only (no torch), so compile/ and scripts can call `python -m model.cost` on any file.

    python -m model.cost <file.onnx> [--json] [--out cost.json]
Exit status: 0 done, 2 a file that cannot be costed or an --out that cannot be written (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from amc_cli import RefusedInput, command
from amc_cli.inputs import load_onnx
from amc_cli.outputs import check_output_file, write_text

# The official baseline's figures: the score's denominators.
BASELINE_BOPS = 807699904
BASELINE_MEM_W_BITS = 1244936
CHALLENGE_INPUT_SHAPE = (1, 2, 1024)
ELEMENTWISE_ARITHMETIC = ("Add", "Sub", "Mul", "Div")


def challenge_score(bops: float, mem_w_bits: float) -> float:
    """score = 0.5 * bit_ops / baseline bit_ops + 0.5 * bit_mem / baseline bit_mem (lower is better)."""
    return 0.5 * bops / BASELINE_BOPS + 0.5 * mem_w_bits / BASELINE_MEM_W_BITS


@dataclass
class LayerCost:
    name: str
    op_type: str
    input_dtype: str
    weight_dtype: str
    macs: float
    bops: float
    mem_w_elems: float  # non-zero weights
    mem_w_bits: float
    weight_density: float


@dataclass
class FreeNode:
    name: str
    op_type: str
    output_elems: int  # one operation per output element for elementwise nodes
    operand: str = ""  # for free arithmetic: "activation" or "constant"


@dataclass
class CostReport:
    model: str
    total_bops: float
    total_mem_w_bits: float
    total_macs: float
    total_mem_w_elems: float
    score: float
    layers: list[LayerCost] = field(default_factory=list)
    unsupported_ops: list[str] = field(default_factory=list)
    unsupported_nodes: list[FreeNode] = field(default_factory=list)
    free_arithmetic: list[FreeNode] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class CostError(RefusedInput):
    """A file that cannot be costed; the message says why."""


def _load(model_path: str | Path):
    from qonnx.core.modelwrapper import ModelWrapper

    path = Path(model_path)
    model = ModelWrapper(load_onnx(path, "a QONNX .onnx file (e.g. runs/<name>/model.onnx)"))
    _infer_kernel_shapes(model)
    inputs = [i for i in model.graph.input if model.get_initializer(i.name) is None]
    if not inputs:
        raise CostError(f"{path}: the graph has no dynamic input")
    shape = tuple(model.get_tensor_shape(inputs[0].name) or ())
    if shape != CHALLENGE_INPUT_SHAPE:
        raise CostError(
            f"{path}: input {inputs[0].name} has shape {shape}; the challenge costs a graph with input "
            f"{CHALLENGE_INPUT_SHAPE}. Re-export with that input shape."
        )
    return model


def _infer_kernel_shapes(model) -> None:
    """ONNX makes a Conv's kernel_shape optional (it is the weight's spatial shape); qonnx's cost needs it."""
    from onnx import helper

    for node in model.graph.node:
        if node.op_type == "Conv" and len(node.input) > 1 and not any(a.name == "kernel_shape" for a in node.attribute):
            weight = node.input[1]
            while model.get_initializer(weight) is None and model.find_producer(weight) is not None:
                weight = model.find_producer(weight).input[0]  # through the weight's Quant
            w = model.get_initializer(weight)
            if w is not None and w.ndim >= 3:
                node.attribute.append(helper.make_attribute("kernel_shape", list(w.shape[2:])))


def _elems(model, tensor: str) -> int:
    shape = model.get_tensor_shape(tensor)
    return int(np.prod(shape)) if shape else 0


def _weight_density(model, node) -> float:
    for name in node.input[1:2]:
        w = model.get_initializer(name)
        if w is not None and w.size:
            return float(np.count_nonzero(w) / w.size)
    return 1.0


def inference_cost_report(model_path: str | Path) -> CostReport:
    """Cost `model_path` exactly as the challenge did and describe where the cost sits."""
    from qonnx.util.inference_cost import inference_cost

    model = _load(model_path)
    with tempfile.TemporaryDirectory() as tmp:
        processed_path = Path(tmp) / "processed.onnx"
        res = inference_cost(
            model, output_onnx=str(processed_path), discount_sparsity=True, cost_breakdown=True
        )
        from qonnx.core.modelwrapper import ModelWrapper

        processed = ModelWrapper(str(processed_path))

    total = res["total_cost"]
    node_costs = res.get("node_cost", {})
    by_name = {n.name: n for n in processed.graph.node}
    layers = []
    for name, c in node_costs.items():
        node = by_name[name]
        mac_keys = [k for k in c if k.startswith("op_mac_")]
        wdt = [k[len("mem_w_"):] for k in c if k.startswith("mem_w_")]
        idt = mac_keys[0].split("_")[2] if mac_keys else "?"
        layers.append(
            LayerCost(
                name=name,
                op_type=node.op_type,
                input_dtype=idt,
                weight_dtype=wdt[0] if wdt else (mac_keys[0].split("_")[3] if mac_keys else "?"),
                macs=c["total_macs"],
                bops=c["total_bops"],
                mem_w_elems=c["total_mem_w_elems"],
                mem_w_bits=c["total_mem_w_bits"],
                weight_density=_weight_density(processed, node),
            )
        )

    unsupported = sorted(_parse_op_set(total.get("unsupported", "")))
    unsupported_nodes = [
        FreeNode(n.name, n.op_type, _elems(processed, n.output[0]))
        for n in processed.graph.node
        if n.op_type in unsupported
    ]
    free_arith = [f for n in processed.graph.node if (f := _free_arithmetic(processed, n)) is not None]
    bops, mem = float(total["total_bops"]), float(total["total_mem_w_bits"])
    return CostReport(
        model=str(model_path),
        total_bops=bops,
        total_mem_w_bits=mem,
        total_macs=float(total["total_macs"]),
        total_mem_w_elems=float(total["total_mem_w_elems"]),
        score=challenge_score(bops, mem),
        layers=layers,
        unsupported_ops=unsupported,
        unsupported_nodes=unsupported_nodes,
        free_arithmetic=free_arith,
    )


def _free_arithmetic(model, node) -> FreeNode | None:
    """An elementwise node doing arithmetic the rules count as free, or None (see the module docstring)."""
    if node.op_type not in ELEMENTWISE_ARITHMETIC or len(node.input) < 2:
        return None
    consts = [model.get_initializer(i) for i in node.input]
    if all(c is not None for c in consts):
        return None  # folded away before costing anyway
    out = _elems(model, node.output[0])
    if all(c is None for c in consts):
        return FreeNode(node.name, node.op_type, out, "activation")
    shape = model.get_tensor_shape(node.output[0]) or []
    channels = shape[1] if len(shape) > 1 else 1
    if max(int(np.asarray(c).size) for c in consts if c is not None) > channels:
        return FreeNode(node.name, node.op_type, out, "constant")
    return None


def _parse_op_set(text: str) -> set[str]:
    """qonnx reports unsupported ops as the str() of a Python set, e.g. "{'Pow', 'ReduceSum'}"."""
    text = text.strip()
    if text in ("", "set()"):
        return set()
    return {t.strip().strip("'\"") for t in text.strip("{}").split(",") if t.strip()}


def format_report(rep: CostReport) -> str:
    """A per-layer table, the totals and the score, and what was counted as free."""
    lines = [f"Inference cost of {rep.model} (qonnx inference_cost, sparsity discounted)", ""]
    hdr = f"{'layer':<22}{'op':<8}{'act':>14}{'weight':>14}{'MACs':>12}{'bit ops':>14}{'w bits':>10}{'density':>9}"
    lines += [hdr, "-" * len(hdr)]
    for lay in rep.layers:
        lines.append(
            f"{lay.name:<22}{lay.op_type:<8}{lay.input_dtype:>14}{lay.weight_dtype:>14}"
            f"{lay.macs:>12.0f}{lay.bops:>14.0f}{lay.mem_w_bits:>10.0f}{lay.weight_density:>9.3f}"
        )
    lines += [
        "-" * len(hdr),
        f"bit ops  {rep.total_bops:.0f}   ({rep.total_bops / BASELINE_BOPS:.6f} of the baseline)",
        f"bit mem  {rep.total_mem_w_bits:.0f}   ({rep.total_mem_w_bits / BASELINE_MEM_W_BITS:.6f} of the baseline)",
        f"score    {rep.score:.6f}",
    ]
    if rep.unsupported_nodes:
        counts = Counter(n.op_type for n in rep.unsupported_nodes)
        lines.append(
            "NOT COUNTED (operators the cost function does not know, counted as zero): "
            + ", ".join(f"{op} x{k}" for op, k in sorted(counts.items()))
        )
    for operand, what in (("activation", "activation by activation"), ("constant", "activation by constant tables")):
        nodes = [n for n in rep.free_arithmetic if n.operand == operand]
        if nodes:
            counts = Counter(n.op_type for n in nodes)
            lines.append(
                f"free by the challenge's rules ({what}): "
                + ", ".join(f"{op} x{k}" for op, k in sorted(counts.items()))
                + f"; {sum(n.output_elems for n in nodes):,} operations per frame"
            )
    if not rep.unsupported_nodes and not rep.free_arithmetic:
        lines.append("every arithmetic operator was counted")
    return "\n".join(lines)


def write_cost_json(rep: CostReport, path: str | Path) -> None:
    write_text(path, json.dumps(rep.to_dict(), indent=2) + "\n")


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Challenge inference cost and score of a QONNX file.")
    ap.add_argument("model", help="QONNX .onnx file with input (1, 2, 1024)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--out", help="also write the JSON report to this file")
    args = ap.parse_args(argv)
    try:
        rep = inference_cost_report(args.model)
    except CostError:
        raise
    except Exception as exc:  # qonnx's inference on a graph it cannot handle
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise CostError(f"{args.model}: qonnx cannot cost this graph ({type(exc).__name__}: {first})") from exc
    if args.out:
        write_cost_json(rep, check_output_file(args.out, [args.model]))
    print(json.dumps(rep.to_dict(), indent=2) if args.json else format_report(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())

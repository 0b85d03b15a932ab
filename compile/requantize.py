"""Quantize the activations a foreign QONNX model leaves in float, so that FINN can build it.

    python -m compile.requantize MODEL.onnx --frames FILE.h5 [--bits 8] [--percentile 99.9] [--n-frames 64]
        [--out OUT.onnx]

FINN's layers take integers only. Some published models feed a convolution or a linear layer with an
unquantized activation: AaronNet32++'s depthwise convolutions read BatchNorm outputs, max-pooled, with no
quantizer in between, and `compile` stops at create_dataflow_partition naming those layers. This tool is
the explicit, inexact way out: it inserts a qonnx Quant node (the given bit width, signed where the
activation goes negative, zero point 0, scale from the magnitudes seen on calibration frames: the largest,
or a percentile of them with `--percentile`) on
each such activation and writes a new model, which then compiles like any other, every step verified
against *it*. It changes what the network computes, so it reports how much: top-1 agreement of the new
model with the original on frames not used for calibration (requantize.json beside the output).

Where the quantizer goes: from each float-reading layer upstream through operators that commute with a
zero-preserving monotone quantizer (max pooling, padding, reshaping, ReLU, concatenation), to the tensors
that produce the value (a BatchNorm output, say). Quantizing there instead of right at the layer gives the
same numbers (max(q(x)) = q(max(x)), q(0) = 0) and lets streamlining fold the BatchNorm into thresholds.
All tensors joined by one concatenation share one quantizer's scale (FINN concatenates integers on one
scale). A tensor that also feeds something outside those paths is quantized for the paths only.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from amc_cli import RefusedInput, command
from amc_cli.inputs import check_count, checked_file, frames_shape_problem, load_npy
from amc_cli.outputs import check_output_file, replaced, write_text

#: Operators a quantizer q with q(0) = 0, monotone, commutes with: q(op(x)) = op(q(x)). Only input 0 of a
#: Reshape carries data (input 1 is its shape); every input of a Concat does.
PASS_THROUGH = {"MaxPool", "GlobalMaxPool", "Pad", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                "Identity", "Relu", "Concat"}
#: Layers FINN maps to integer matrix-vector units: their data input must be quantized.
LAYERS = {"Conv", "Gemm", "MatMul"}
#: Percentile of |activation| mapped to the top code. On AaronNet32++ (8 bits, synthetic round-4 test split)
#: 99.9 kept the original's accuracy (0.381 vs 0.378) where the largest value (100) lost 1.8 points and
#: 99.99 0.8: a few outliers set the step for all values.
DEFAULT_PERCENTILE = 99.9


class RequantizeError(RefusedInput):
    pass


@dataclass
class Requantized:
    """One inserted quantizer: the tensors it quantizes (one scale), for which layers."""
    tensors: list[str]
    layers: list[str]
    bits: int
    signed: bool
    scale: float
    calibration_min: float
    calibration_max: float
    calibration_magnitude: float  # the percentile of |x| the scale maps to the top code


@dataclass
class RequantizeReport:
    model: str
    out: str
    bits: int
    percentile: float
    calibration_frames: int
    check_frames: int
    frames_from: str
    quantizers: list[Requantized] = field(default_factory=list)
    top1_agree: int = 0
    top1_agreement: float = 0.0
    max_abs_logit_change: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _data_inputs(node) -> list[str]:
    return list(node.input) if node.op_type == "Concat" else list(node.input[:1])


def float_roots(model, tensor: str) -> tuple[list[str], list] | None:
    """The value-producing tensors behind `tensor` (walking up through pass-through operators) and the
    pass-through nodes on the way, or None if it is already quantized (a Quant node or the graph input's
    quantizer reached on every path)."""
    roots, path, quantized = [], [], True

    def walk(name: str) -> None:
        nonlocal quantized
        node = model.find_producer(name)
        if node is not None and node.op_type == "Quant":
            return
        if node is not None and node.op_type in PASS_THROUGH:
            path.append(node)
            for i in _data_inputs(node):
                if model.get_initializer(i) is None:
                    walk(i)
            return
        quantized = False
        if name not in roots:
            roots.append(name)

    walk(tensor)
    return None if quantized else (roots, path)


def find_float_inputs(model) -> list[tuple[list[str], list[str], list]]:
    """Groups (root tensors, layer names, the nodes between them: pass-through nodes and the layers) that need
    one shared quantizer: a layer's roots, merged with every other layer's that shares a root with it."""
    groups: list[tuple[set, list, list]] = []
    for node in model.graph.node:
        if node.op_type not in LAYERS:
            continue
        found = float_roots(model, node.input[0])
        if found is None:
            continue
        roots, path = set(found[0]), [*found[1], node]
        layers = [node.name or node.output[0]]
        for g in [g for g in groups if g[0] & roots]:
            groups.remove(g)
            roots |= g[0]
            layers = g[1] + layers
            path = g[2] + path
        groups.append((roots, layers, path))
    order = {o: i for i, n in enumerate(model.graph.node) for o in n.output}
    return [(sorted(r, key=lambda t: order.get(t, -1)), layers, path) for r, layers, path in groups]


def _execute(model, frame: np.ndarray, full: bool = False) -> dict:
    """qonnx's own execution of one frame (the 2021 exports declare output shapes qonnx warns about)."""
    import warnings

    from qonnx.core.onnx_exec import execute_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return execute_onnx(model, {model.graph.input[0].name: frame[None]}, return_full_exec_context=full)


def _tensor_ranges(model, frames: np.ndarray, tensors: list[str], percentile: float) -> dict[str, tuple]:
    """Per tensor over the frames: min, max and the given percentile of |x| (the scale's reference)."""
    values: dict[str, list] = {t: [] for t in tensors}
    for frame in frames:
        ctx = _execute(model, frame, full=True)
        for t in tensors:
            values[t].append(np.asarray(ctx[t], np.float32).ravel())
    out = {}
    for t, v in values.items():
        v = np.concatenate(v)
        out[t] = (float(v.min()), float(v.max()), float(np.percentile(np.abs(v), percentile)))
    return out


def _logits(model, frames: np.ndarray) -> np.ndarray:
    oname = model.graph.output[0].name
    return np.concatenate([np.asarray(_execute(model, f)[oname]).reshape(1, -1) for f in frames])


def insert_quantizers(model, groups, ranges: dict, bits: int) -> list[Requantized]:
    """A Quant node per root tensor (one scale per group: the group's largest reference magnitude at the top
    code), rewired into the group's paths only."""
    from onnx import helper, numpy_helper

    inserted = []
    for roots, layers, path in groups:
        lo = min(ranges[t][0] for t in roots)
        hi = max(ranges[t][1] for t in roots)
        signed = lo < 0
        top = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
        magnitude = max(ranges[t][2] for t in roots)
        if not np.isfinite(magnitude) or magnitude == 0:
            raise RequantizeError(f"activation(s) {', '.join(roots)} before {layers[0]} are constant "
                                  f"({lo:g}..{hi:g}) on the calibration frames: no scale can be calibrated")
        scale = magnitude / top
        on_path = {id(n) for n in path}
        tag = f"requant{len(inserted)}"
        model.graph.initializer.extend([
            numpy_helper.from_array(np.array(scale, np.float32), f"{tag}_scale"),
            numpy_helper.from_array(np.array(0.0, np.float32), f"{tag}_zeropt"),
            numpy_helper.from_array(np.array(float(bits), np.float32), f"{tag}_bits")])
        for k, root in enumerate(roots):
            out = f"{root}_{tag}"
            quant = helper.make_node("Quant", [root, f"{tag}_scale", f"{tag}_zeropt", f"{tag}_bits"], [out],
                                     name=f"{tag}_{k}", domain="qonnx.custom_op.general",
                                     signed=int(signed), narrow=0, rounding_mode="ROUND")
            for c in model.find_consumers(root) or []:
                if id(c) in on_path:
                    for j, name in enumerate(c.input):
                        if name == root and (j == 0 or c.op_type == "Concat"):
                            c.input[j] = out
            producer_index = next((i for i, n in enumerate(model.graph.node) if root in n.output), -1)
            model.graph.node.insert(producer_index + 1, quant)
        inserted.append(Requantized(list(roots), list(layers), bits, signed, scale, lo, hi, magnitude))
    return inserted


def read_frames(path: Path, n: int) -> np.ndarray:
    """n frames (N, 2, 1024) spread evenly over a RadioML-schema HDF5 file (dataset X, (N, 1024, 2)), or
    an .npy array of frames (N, 2, 1024). Never more frames than the file holds."""
    if path.suffix == ".npy":
        x = load_npy(path, "frames (N, 2, 1024)")
        problem = frames_shape_problem(x.shape, channels_first=True)
        if problem:
            raise RequantizeError(f"{path}: {problem}")
        check_count(n, len(x), "--n-frames", f"frames ({path})")
        return np.asarray(x[np.linspace(0, len(x) - 1, n).astype(int)], dtype=np.float32)
    import h5py

    checked_file(path, "a RadioML-schema HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            if not isinstance(f.get("X"), h5py.Dataset):
                raise RequantizeError(f"{path}: no dataset X; expected a RadioML 2018-schema file")
            problem = frames_shape_problem(f["X"].shape)
            if problem:
                raise RequantizeError(f"{path}: {problem}")
            check_count(n, f["X"].shape[0], "--n-frames", f"frames ({path})")
            idx = np.linspace(0, f["X"].shape[0] - 1, n).astype(int)
            x = np.stack([f["X"][i] for i in idx])
    except OSError as e:
        raise RequantizeError(f"{path}: not a readable HDF5 file ({e})") from None
    if not np.isfinite(x).all():
        raise RequantizeError(f"{path}: the frames hold NaN or infinite values")
    return np.ascontiguousarray(x.transpose(0, 2, 1)).astype(np.float32)


def requantize(model_path: Path, out: Path, frames: np.ndarray, bits: int, frames_from: str,
               percentile: float = DEFAULT_PERCENTILE) -> RequantizeReport:
    """Calibrate on the even-indexed frames, insert the quantizers, check on the odd-indexed ones."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    if not 2 <= bits <= 16:
        raise RequantizeError(f"--bits {bits}: expected 2..16")
    if not 50.0 <= percentile <= 100.0:
        raise RequantizeError(f"--percentile {percentile}: expected 50..100")
    model = ModelWrapper(str(model_path)).transform(InferShapes())
    groups = find_float_inputs(model)
    if not groups:
        raise RequantizeError(f"{model_path}: every conv/linear layer already reads quantized activations; "
                              "nothing to do (compile it as it is)")
    calib, check = frames[0::2], frames[1::2]
    ranges = _tensor_ranges(model, calib, sorted({t for g in groups for t in g[0]}), percentile)
    before = _logits(model, check)
    quantizers = insert_quantizers(model, groups, ranges, bits)
    model = model.transform(InferShapes())
    after = _logits(model, check)
    with replaced(out) as tmp:
        model.save(str(tmp))
    agree = int((before.argmax(1) == after.argmax(1)).sum())
    return RequantizeReport(str(model_path), str(out), bits, percentile, len(calib), len(check), frames_from,
                            quantizers, agree, agree / len(check), float(np.abs(before - after).max()))


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m compile.requantize", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="QONNX model with float activations feeding conv/linear layers")
    ap.add_argument("--frames", type=Path, required=True,
                    help="calibration and check frames: a RadioML-schema HDF5 file (e.g. data/synthetic-64.h5) "
                         "or an .npy array (N, 2, 1024)")
    ap.add_argument("--bits", type=int, default=8, help="bit width of the inserted quantizers (default 8)")
    ap.add_argument("--percentile", type=float, default=DEFAULT_PERCENTILE,
                    help=f"percentile of |activation| on the calibration frames mapped to the top code (default "
                         f"{DEFAULT_PERCENTILE}: finer steps for a little clipping; 100: the largest, nothing clips)")
    ap.add_argument("--n-frames", type=int, default=64, help="frames read: half calibrate, half check")
    ap.add_argument("--out", type=Path, default=None,
                    help="output model (default: <model name>_requant<bits>.onnx in the current folder)")
    a = ap.parse_args(argv)
    out = a.out or Path(f"{a.model.stem}_requant{a.bits}.onnx")  # never beside a model in a read-only place
    report_path = out.with_suffix(".requantize.json")
    for path in (out, report_path):
        check_output_file(path, [a.model, a.frames])
    if not a.model.is_file():
        raise RequantizeError(f"{a.model}: no such model file")
    if a.n_frames < 2:
        raise RequantizeError("--n-frames: need at least 2 (half calibrate, half check)")
    frames = read_frames(a.frames, a.n_frames)
    rep = requantize(a.model, out, frames, a.bits, str(a.frames), a.percentile)
    write_text(report_path, json.dumps(rep.to_dict(), indent=2) + "\n")
    for q in rep.quantizers:
        print(f"{'int' if q.signed else 'uint'}{q.bits} x {q.scale:.4g} on {', '.join(q.tensors)} "
              f"(for {', '.join(q.layers)}; calibrated range {q.calibration_min:.3g}..{q.calibration_max:.3g})")
    print(f"{out}: {len(rep.quantizers)} quantizer(s) inserted; top-1 agrees with {a.model.name} on "
          f"{rep.top1_agree}/{rep.check_frames} frames of {rep.frames_from} ({rep.top1_agreement:.1%}); "
          f"largest logit change {rep.max_abs_logit_change:.3g}; report {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

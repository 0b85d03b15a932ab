"""QONNX export with Brevitas, checked by executing the exported graph against PyTorch.

Every export is verified: qonnx executes the graph on real frames and its logits must match PyTorch's
(same top-1 on every frame, difference at float rounding level). Frames are first put on the input
quantizer's grid, where both sides quantize identically; off the grid, a value at a rounding tie may
round differently in ONNX and PyTorch, which is not a property of the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from amc_cli import ConstraintMissed
from model.radioml import CLASSES, FRAME_LEN, SNRS_DB
from model.train import logits_of

IO_FORMAT = "amc-fpga-io/1"
INPUT_SHAPE = (1, 2, FRAME_LEN)


class ExportMismatch(ConstraintMissed, RuntimeError):
    """The exported graph does not compute what the PyTorch model computes."""


@contextmanager
def without_training_only_modules(net: nn.Module) -> Iterator[nn.Module]:
    """`net` with the submodules it names in `training_only_modules` (auxiliary heads that its eval-mode
    forward never calls) detached for the duration, then put back in their place.

    Brevitas' export validates every quantizer in the module tree, and a bias quantizer that needs its
    input's scale fails in a head that eval mode never ran; the exported graph would not contain it anyway.
    """
    names = tuple(getattr(net, "training_only_modules", ()))
    saved = dict(net._modules)
    for name in names:
        if name in net._modules:
            del net._modules[name]
    try:
        yield net
    finally:
        net._modules.clear()
        net._modules.update(saved)


def export_qonnx_model(net: nn.Module, path: Path) -> Path:
    """Export `net` (eval mode, CPU) to QONNX at `path`, cleaned up by qonnx (shapes, constants folded).

    Training-only submodules the net declares (`training_only_modules`) are left out of the export.
    """
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    net = net.cpu().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    # The TorchScript path (dynamo=False) gives the plain graph FINN and the cost function expect.
    with without_training_only_modules(net):
        export_qonnx(net, torch.zeros(INPUT_SHAPE), export_path=str(path), dynamo=False)
    model = cleanup_model(ModelWrapper(str(path)))
    dangling = _dangling_inputs(model)
    if dangling:
        raise ExportMismatch(
            f"{path}: after qonnx cleanup, node inputs {dangling} name no tensor. qonnx 1.0 renames only the "
            "first of two identical inputs of a node: write a square as x**2, not x * x."
        )
    model.save(str(path))
    return path


def _dangling_inputs(model) -> list[str]:
    """Node inputs that are neither a graph input, an initializer, nor some node's output."""
    known = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer}
    known |= {o for n in model.graph.node for o in n.output}
    return sorted({f"{n.name}:{i}" for n in model.graph.node for i in n.input if i and i not in known})


def input_quant_of_graph(model) -> dict | None:
    """The Quant node applied to the graph input, as io.json describes it; None if the input is float."""
    in_name = model.graph.input[0].name
    consumers = model.find_consumers(in_name) or []
    quant = next((n for n in consumers if n.op_type == "Quant"), None)
    if quant is None:
        return None
    scale = float(np.asarray(model.get_initializer(quant.input[1])).reshape(-1)[0])
    zero_point = float(np.asarray(model.get_initializer(quant.input[2])).reshape(-1)[0])
    bits = int(np.asarray(model.get_initializer(quant.input[3])).reshape(-1)[0])
    attrs = {a.name: a.i for a in quant.attribute if a.name in ("signed", "narrow")}
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    lo = -(2 ** (bits - 1)) + int(narrow) if signed else 0
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1 - int(narrow)
    return {
        "bit_width": bits, "signed": signed, "narrow": narrow, "scale": scale, "zero_point": zero_point,
        "min_code": lo, "max_code": hi, "min": (lo - zero_point) * scale, "max": (hi - zero_point) * scale,
    }


def io_description(onnx_path: Path, model_name: str, data: dict | None) -> dict:
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(str(onnx_path))
    inp, out = model.graph.input[0].name, model.graph.output[0].name
    return {
        "format": IO_FORMAT,
        "input": {"name": inp, "shape": list(model.get_tensor_shape(inp)), "layout": "NCW",
                  "quant": input_quant_of_graph(model)},
        "output": {"name": out, "shape": list(model.get_tensor_shape(out)), "kind": "logits"},
        "classes": list(CLASSES),
        "snrs_db": list(SNRS_DB),
        "frame_length": FRAME_LEN,
        "model": model_name,
        "data": data,
    }


def on_input_grid(frames: np.ndarray, quant: dict | None) -> np.ndarray:
    """Round frames onto the input quantizer's grid (float values the quantizer maps to themselves)."""
    if quant is None:
        return frames.astype(np.float32)
    s, z = quant["scale"], quant["zero_point"]
    codes = np.clip(np.rint(frames / s + z), quant["min_code"], quant["max_code"])
    return ((codes - z) * s).astype(np.float32)


# A quantized activation that lands within float rounding of a quantization threshold can round to
# neighbouring codes in PyTorch and in qonnx (summation order differs). Measured on a VGG10 trained here:
# one element of 65536 in the first layer, one step apart, shifting every logit of that frame by up to 0.04
# (0.2% of the largest logit). Such a frame is a rounding-boundary frame, not a divergence, as long as it
# stays within BOUNDARY_RTOL of the logit scale, keeps its top-1 and such frames stay rare.
BOUNDARY_RTOL = 0.01
MAX_BOUNDARY_SHARE = 1 / 8


def compare_logits(ref: np.ndarray, got: np.ndarray, rtol: float = 1e-4) -> dict:
    """How two (n, classes) logit arrays of the same frames differ, and whether that is a divergence.

    Within rtol of the logit scale the frames match. A top-1 flip between two logits whose reference margin
    is within twice the frame's own shift (capped at a rounding-boundary shift) is a near-tie: quantized
    logits tie exactly, and float rounding breaks the tie either way. Any other flip is a disagreement.
    """
    scale = max(1.0, float(np.abs(ref).max()))
    tolerance, boundary_tol = rtol * scale, BOUNDARY_RTOL * scale
    frame_diff = np.abs(got - ref).max(axis=1)
    ref_top, got_top = ref.argmax(1), got.argmax(1)
    rows = np.arange(len(ref))
    differ = ref_top != got_top
    shift = np.clip(frame_diff, tolerance, boundary_tol)  # how far this frame's logits may have moved
    tie = differ & (ref[rows, ref_top] - ref[rows, got_top] <= 2 * shift)
    disagree = differ & ~tie
    boundary = (frame_diff > tolerance) & (frame_diff <= boundary_tol)
    diverges = bool(disagree.any() or (frame_diff > boundary_tol).any()
                    or boundary.sum() > max(1, int(len(ref) * MAX_BOUNDARY_SHARE)))
    return {"frames": int(len(ref)), "top1_agreement": float(np.mean(~differ)),
            "top1_disagreements": int(disagree.sum()), "top1_near_ties": int(tie.sum()),
            "rounding_boundary_frames": int(boundary.sum()), "max_abs_diff": float(frame_diff.max(initial=0.0)),
            "tolerance": tolerance, "diverges": diverges}


def verify_export(net: nn.Module, onnx_path: Path, frames: np.ndarray, rtol: float = 1e-4) -> dict:
    """Run `frames` (n, 2, 1024) through PyTorch and through qonnx; raise ExportMismatch if they differ."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    model = ModelWrapper(str(onnx_path))
    inp, out = model.graph.input[0].name, model.graph.output[0].name
    x = on_input_grid(frames, input_quant_of_graph(model))
    net = net.cpu().eval()
    with torch.no_grad():
        ref = logits_of(net(torch.from_numpy(x))).numpy()
    got = np.concatenate([execute_onnx(model, {inp: x[i : i + 1]})[out] for i in range(len(x))])
    report = compare_logits(ref, got, rtol)
    if report.pop("diverges"):
        raise ExportMismatch(
            f"{onnx_path}: exported graph diverges from PyTorch on {len(x)} frames: top-1 differs on "
            f"{report['top1_disagreements']} (besides {report['top1_near_ties']} near-ties), max |logit "
            f"difference| {report['max_abs_diff']:.3g} (tolerance {report['tolerance']:.3g}; "
            f"{report['rounding_boundary_frames']} frames within {BOUNDARY_RTOL:.0%} of the logit scale)."
        )
    return report


def write_io_json(desc: dict, path: Path) -> None:
    path.write_text(json.dumps(desc, indent=2) + "\n")

"""What the driver knows about a deployed model, read from the artefacts of earlier stages.

Nothing here is retyped: the input quantizer comes from io.json (the run folder's, or the copy the
build recorded in accelerator.json), the accelerator's datatypes and shapes and the host-side ops
from the build's accelerator.json, the DMA shapes from finn-plus's settings.json (or, in emulation,
from the emulator, which derives them from the same graph finn-plus would). Every cross-check that
can fail does so with a MetadataError naming both files.

numpy only (the board's Python: PYNQ images run Python 3.10, so no 3.11-only syntax here).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from amc_cli import RefusedInput, ToolMissing

IO_FORMAT = "amc-fpga-io/1"


class MetadataError(RefusedInput):
    """Artefacts that do not fit together (or data that does not fit them); the message says which."""


class BitfileMissing(ToolMissing, FileNotFoundError):
    """No bitfile for a board deployment; the message says how to make one."""


def _load_json(path: Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise MetadataError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise MetadataError(f"{path}: not valid JSON ({e})") from e


# ---- the input quantizer ----------------------------------------------------------------------
@dataclass(frozen=True)
class InputQuant:
    """The exported model's input quantizer (io.json input.quant)."""

    bit_width: int
    signed: bool
    narrow: bool
    scale: float
    zero_point: float

    @classmethod
    def from_dict(cls, q: dict, source: str) -> "InputQuant":
        try:
            out = cls(bit_width=int(q["bit_width"]), signed=bool(q["signed"]), narrow=bool(q.get("narrow", False)),
                      scale=float(q["scale"]), zero_point=float(q.get("zero_point", 0.0)))
        except (KeyError, TypeError, ValueError) as e:
            raise MetadataError(f"{source}: input.quant is incomplete ({e!r}); expected bit_width, signed, "
                                "narrow, scale, zero_point") from e
        if not (out.scale > 0 and math.isfinite(out.scale)):
            raise MetadataError(f"{source}: input.quant.scale must be a positive number, got {out.scale}")
        if out.zero_point != round(out.zero_point):
            raise MetadataError(f"{source}: input.quant.zero_point {out.zero_point} is not an integer")
        if not 1 <= out.bit_width <= 32:
            raise MetadataError(f"{source}: input.quant.bit_width {out.bit_width} out of range")
        return out

    @property
    def min_code(self) -> int:
        return -(2 ** (self.bit_width - 1)) + int(self.narrow) if self.signed else 0

    @property
    def max_code(self) -> int:
        return 2 ** (self.bit_width - 1) - 1 if self.signed else 2**self.bit_width - 1 - int(self.narrow)

    @property
    def finn_datatype(self) -> str:
        return f"{'INT' if self.signed else 'UINT'}{self.bit_width}"

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float I/Q to integer codes as the exported model's input quantizer computes them, in float32
        as PyTorch does: clip(round_half_even(float32(x) / float32(scale)) + zero_point, min, max).
        Returned in a float32 container (the values are integers)."""
        x32 = np.asarray(x, dtype=np.float32)
        q = np.rint(x32 / np.float32(self.scale)) + np.float32(self.zero_point)
        return np.clip(q, self.min_code, self.max_code).astype(np.float32)

    def same_as(self, other: "InputQuant") -> bool:
        return (self.bit_width, self.signed, self.narrow, self.zero_point) == (
            other.bit_width, other.signed, other.narrow, other.zero_point) and math.isclose(
            self.scale, other.scale, rel_tol=1e-7, abs_tol=0.0)


# ---- the host-side ops around the accelerator ---------------------------------------------------
def _datatype_range(name: str) -> tuple[int, int]:
    """Integer range of a FINN datatype name (INTn, UINTn, BIPOLAR, BINARY, TERNARY)."""
    if name == "BIPOLAR":
        return -1, 1
    if name == "BINARY":
        return 0, 1
    if name == "TERNARY":
        return -1, 1
    for prefix, signed in (("UINT", False), ("INT", True)):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            bits = int(name[len(prefix):])
            return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    raise MetadataError(f"datatype {name!r} is not an integer datatype the driver handles")


@dataclass
class HostOps:
    """host.pre / host.post of accelerator.json, applied in numpy (float32, as the ONNX parent does)."""

    pre: list = field(default_factory=list)
    post: list = field(default_factory=list)
    source: str = "accelerator.json"

    def apply_pre(self, codes: np.ndarray, accel_shape: tuple) -> np.ndarray:
        """Codes in the model's input layout (N, C, W) -> the accelerator's input (N, *accel_shape[1:])."""
        x = codes
        for op in self.pre:
            t = op.get("op_type")
            if t == "Transpose":
                perm = list(op["attributes"]["perm"])
                while x.ndim < len(perm):  # the build made 1-D models 2-D: (N, C, W) -> (N, C, W, 1)
                    x = x[..., None]
                if x.ndim != len(perm):
                    raise MetadataError(f"{self.source}: host.pre {op.get('name')} transposes rank {len(perm)}, "
                                        f"the data has rank {x.ndim}")
                x = np.transpose(x, perm)
            elif t in ("Reshape", "Flatten"):
                x = x.reshape(x.shape[0], *accel_shape[1:])
            else:
                raise MetadataError(f"{self.source}: host.pre op {t} ({op.get('name')}) is not one the driver "
                                    "implements (Transpose, Reshape)")
        want = tuple(int(d) for d in accel_shape[1:])
        if tuple(x.shape[1:]) != want and [d for d in x.shape[1:] if d != 1] == [d for d in want if d != 1]:
            x = x.reshape(x.shape[0], *want)  # only unit dimensions differ
        if tuple(x.shape[1:]) != want:
            raise MetadataError(f"{self.source}: after host.pre the frames have shape {tuple(x.shape[1:])}, "
                                f"the accelerator takes {want}")
        return np.ascontiguousarray(x)

    def apply_post(self, out: np.ndarray) -> np.ndarray:
        """The accelerator's integer output -> logits (Mul/Add dequantisation with the build's constants)."""
        x = np.asarray(out, dtype=np.float32).reshape(out.shape[0], -1)
        for op in self.post:
            t = op.get("op_type")
            consts = list((op.get("constants") or {}).values())
            if t in ("Reshape", "Flatten"):
                continue
            if t not in ("Mul", "Add") or len(consts) != 1:
                raise MetadataError(f"{self.source}: host.post op {t} ({op.get('name')}) is not one the driver "
                                    "implements (Mul or Add by a constant)")
            c = np.asarray(consts[0], dtype=np.float32).reshape(-1)
            if c.size not in (1, x.shape[1]):
                raise MetadataError(f"{self.source}: host.post {op.get('name')} has {c.size} constants for "
                                    f"{x.shape[1]} outputs")
            x = x * c if t == "Mul" else x + c
        return x.astype(np.float32)


def polyphase_rows(codes: np.ndarray, p: int) -> np.ndarray:
    """(N, 2, L) -> (N, 2P, L/P): the frame read as P-sample rows, channels first, as the build moved it to
    the host (compile/transforms/inputview.py, which the driver may not import; P = 1: unchanged). Channels last it is
    the (L, 2) interleaved frame reshaped to (L/P, 2P): the same bytes."""
    if p == 1:
        return codes
    n, c, length = codes.shape
    if length % p:
        raise MetadataError(f"polyphase {p} does not divide the frame length {length}")
    return codes.transpose(0, 2, 1).reshape(n, length // p, c * p).transpose(0, 2, 1)


# ---- the model as deployed ----------------------------------------------------------------------
@dataclass
class ModelIO:
    """io.json together with the build's accelerator.json (and, where present, finn-plus's settings)."""

    name: str
    quant: InputQuant | None
    input_shape: tuple  # the model's input, e.g. (1, 2, 1024), layout NCW
    layout: str
    output_shape: tuple  # the model's output, e.g. (1, 24)
    classes: list
    snrs_db: list
    accel_in_shape: tuple
    accel_in_dtype: str
    accel_out_shape: tuple
    accel_out_dtype: str
    host: HostOps
    sources: dict = field(default_factory=dict)
    polyphase: int = 1  # input samples per accelerator beat (accelerator.json input.polyphase)

    @property
    def frame_shape(self) -> tuple:
        return tuple(self.input_shape[1:])

    @property
    def n_classes(self) -> int:
        return int(np.prod(self.output_shape[1:]))

    @classmethod
    def load(cls, accelerator_json: Path, io_json: Path | None = None) -> "ModelIO":
        acc_path = Path(accelerator_json)
        acc = _load_json(acc_path, "accelerator.json (written by compile/'s create_dataflow_partition)")
        try:
            codes_from = acc["input"]["codes_from"]
            a_in_shape = tuple(int(d) for d in acc["input"]["accelerator_shape"])
            a_in_dt = str(acc["input"]["accelerator_datatype"])
            a_out_shape = tuple(int(d) for d in acc["output"]["accelerator_shape"])
            a_out_dt = str(acc["output"]["accelerator_datatype"])
            host = HostOps(pre=list(acc["host"]["pre"]), post=list(acc["host"]["post"]), source=str(acc_path))
            polyphase = int(acc["input"].get("polyphase", 1))
        except (KeyError, TypeError, ValueError) as e:
            raise MetadataError(f"{acc_path}: missing or malformed field ({e!r})") from e
        sources = {"accelerator": str(acc_path)}
        io = None
        if io_json is not None:
            io = _load_json(Path(io_json), "io.json (the run folder's I/O description)")
            if io.get("format") != IO_FORMAT:
                raise MetadataError(f"{io_json}: format is {io.get('format')!r}, expected {IO_FORMAT!r}")
            sources["io"] = str(io_json)
        inp = io["input"] if io is not None else codes_from
        q_dict = inp.get("quant")
        quant = InputQuant.from_dict(q_dict, str(io_json or acc_path)) if q_dict is not None else None
        b_q = codes_from.get("quant")
        if io is not None:
            b_quant = InputQuant.from_dict(b_q, str(acc_path)) if b_q is not None else None
            if (quant is None) != (b_quant is None) or (quant is not None and not quant.same_as(b_quant)):
                raise MetadataError(f"the input quantizer of {io_json} ({q_dict}) differs from the one the build "
                                    f"was compiled with ({acc_path}: {b_q}): the build belongs to another model "
                                    "or an older export; recompile it")
            if [int(d) for d in inp["shape"]] != [int(d) for d in codes_from["shape"]]:
                raise MetadataError(f"input shape {inp['shape']} in {io_json} differs from {codes_from['shape']} "
                                    f"in {acc_path}")
        if quant is not None and quant.finn_datatype != a_in_dt:
            raise MetadataError(f"{acc_path}: the accelerator takes {a_in_dt}, but the input quantizer makes "
                                f"{quant.finn_datatype} codes")
        _datatype_range(a_in_dt), _datatype_range(a_out_dt)  # integer datatypes only
        out = (io or {}).get("output", {})
        in_shape = tuple(int(d) for d in inp["shape"])
        out_shape = tuple(int(d) for d in out.get("shape", [1, int(np.prod(a_out_shape[1:]))]))
        if int(np.prod(in_shape[1:])) != int(np.prod(a_in_shape[1:])):
            raise MetadataError(f"the model input {in_shape} and the accelerator input {a_in_shape} ({acc_path}) "
                                "hold different numbers of values")
        classes = list((io or {}).get("classes") or [])
        if classes and len(classes) != int(np.prod(out_shape[1:])):
            raise MetadataError(f"{io_json}: {len(classes)} class names for an output of shape {out_shape}")
        return cls(name=str((io or {}).get("model") or acc_path.parent.name), quant=quant, input_shape=in_shape,
                   layout=str(inp.get("layout", "NCW")), output_shape=out_shape, classes=classes,
                   snrs_db=list((io or {}).get("snrs_db") or []), accel_in_shape=a_in_shape,
                   accel_in_dtype=a_in_dt, accel_out_shape=a_out_shape, accel_out_dtype=a_out_dt, host=host,
                   sources=sources, polyphase=polyphase)

    # ---- the float frames -> accelerator input -> logits path --------------------------------
    def check_frames(self, frames: np.ndarray, what: str = "frames") -> None:
        if frames.ndim != 1 + len(self.frame_shape) or tuple(frames.shape[1:]) != self.frame_shape:
            raise MetadataError(f"{what} have shape {tuple(frames.shape)}; the model takes (N, "
                                f"{', '.join(str(d) for d in self.frame_shape)}) ({self.layout}, from "
                                f"{self.sources.get('io', self.sources['accelerator'])})")

    def codes(self, frames: np.ndarray) -> np.ndarray:
        """Float frames (N, C, W) -> integer input codes (N, C, W), float32 container."""
        self.check_frames(frames)
        if self.quant is None:
            raise MetadataError("the model has no input quantizer (io.json input.quant is null): the accelerator "
                                "needs integer input")
        return self.quant.quantize(frames)

    def accelerator_input(self, codes: np.ndarray) -> np.ndarray:
        """Codes (N, C, W) -> the accelerator's input layout (host.pre), checked against its datatype."""
        self.check_frames(codes, "codes")
        lo, hi = _datatype_range(self.accel_in_dtype)
        if codes.size and (codes.min() < lo or codes.max() > hi or not np.all(codes == np.rint(codes))):
            raise MetadataError(f"input codes in [{codes.min():g}, {codes.max():g}] are not {self.accel_in_dtype}")
        return self.host.apply_pre(polyphase_rows(codes, self.polyphase), self.accel_in_shape)

    def logits(self, accel_out: np.ndarray) -> np.ndarray:
        """The accelerator's integer output (N, ...) -> logits (N, classes) (host.post)."""
        n = accel_out.shape[0]
        if int(np.prod(accel_out.shape[1:])) != int(np.prod(self.accel_out_shape[1:])):
            raise MetadataError(f"accelerator output has shape {tuple(accel_out.shape)}, accelerator.json says "
                                f"{self.accel_out_shape}")
        out = self.host.apply_post(accel_out.reshape(n, -1))
        if out.shape[1] != self.n_classes:
            raise MetadataError(f"{out.shape[1]} logits per frame, the model has {self.n_classes} outputs")
        return out

    def check_io_shape_dict(self, isd: dict, source: str) -> None:
        """finn-plus's io_shape_dict (settings.json or the emulator's) must describe this accelerator."""
        def dt_name(v):
            s = str(v)
            return s[s.index("[") + 1: s.index("]")].strip("'\"") if "[" in s else getattr(v, "name", s)

        try:
            idt, odt = dt_name(isd["idt"][0]), dt_name(isd["odt"][0])
            ishape, oshape = tuple(isd["ishape_normal"][0]), tuple(isd["oshape_normal"][0])
        except (KeyError, IndexError, TypeError) as e:
            raise MetadataError(f"{source}: io_shape_dict lacks idt/odt/ishape_normal/oshape_normal ({e!r})") from e
        problems = []
        # accelerator.json records the datatypes at create_dataflow_partition; later steps may widen them
        # (e.g. an RTL MVAU's accumulator output). A wider type holds the same integers: accepted.
        for what, got, want in (("input", idt, self.accel_in_dtype), ("output", odt, self.accel_out_dtype)):
            if got == want:
                continue
            try:
                (glo, ghi), (wlo, whi) = _datatype_range(got), _datatype_range(want)
            except MetadataError as e:
                problems.append(f"{what} datatype {got} vs {want} ({e})")
                continue
            if not (glo <= wlo and ghi >= whi):
                problems.append(f"{what} datatype {got} cannot hold {want}")
        if tuple(ishape[1:]) != tuple(self.accel_in_shape[1:]):
            problems.append(f"input shape {ishape} vs {self.accel_in_shape}")
        if int(np.prod(oshape[1:])) != int(np.prod(self.accel_out_shape[1:])):
            problems.append(f"output shape {oshape} vs {self.accel_out_shape}")
        if problems:
            raise MetadataError(f"{source} does not describe the accelerator of {self.sources['accelerator']}: "
                                + "; ".join(problems) + " (a bitfile/driver from another build?)")


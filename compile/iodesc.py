"""The I/O description (io.json, docs/artefacts.md "I/O description") and the host-side input quantizer.

compile/ reads the model's input quantizer from io.json when there is one next to the model, and
otherwise derives it from the graph's first Quant node. The accelerator receives integer codes:
code = clip(round_half_even(x / scale) + zero_point, min_code, max_code).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from amc_cli.inputs import read_json

IO_FORMAT = "amc-fpga-io/1"


@dataclass(frozen=True)
class InputQuant:
    bit_width: int
    signed: bool
    narrow: bool
    scale: float
    zero_point: float
    min: float
    max: float

    @property
    def min_code(self) -> int:
        if self.signed:
            return -(2 ** (self.bit_width - 1)) + int(self.narrow)
        return 0

    @property
    def max_code(self) -> int:
        if self.signed:
            return 2 ** (self.bit_width - 1) - 1
        return 2**self.bit_width - 1 - int(self.narrow)

    @property
    def finn_datatype(self) -> str:
        return f"{'INT' if self.signed else 'UINT'}{self.bit_width}"

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float I/Q to integer codes, exactly as the model's input quantizer: float32 division as in
        PyTorch, round half to even (the driver does the same)."""
        q = np.round(np.asarray(x, dtype=np.float32) / np.float32(self.scale)) + self.zero_point
        return np.clip(q, self.min_code, self.max_code).astype(np.float32)

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        return ((np.asarray(codes, dtype=np.float64) - self.zero_point) * self.scale).astype(np.float32)


@dataclass
class IODescription:
    input_name: str
    input_shape: list[int]
    layout: str
    quant: InputQuant | None
    output_name: str
    output_shape: list[int]
    output_kind: str = "logits"
    classes: list[str] = field(default_factory=list)
    frame_length: int = 1024
    model: str = ""
    source: str = ""

    def to_dict(self) -> dict:
        return {
            "format": IO_FORMAT,
            "input": {
                "name": self.input_name,
                "shape": self.input_shape,
                "layout": self.layout,
                "quant": asdict(self.quant) if self.quant else None,
            },
            "output": {"name": self.output_name, "shape": self.output_shape, "kind": self.output_kind},
            "classes": self.classes,
            "frame_length": self.frame_length,
            "model": self.model,
            "source": self.source,
        }


def parse_io(data: dict, source: str = "") -> IODescription:
    fmt = data.get("format")
    if fmt != IO_FORMAT:
        raise ValueError(f"{source or 'io.json'}: format is {fmt!r}, expected {IO_FORMAT!r}")
    inp, out = data["input"], data["output"]
    q = inp.get("quant")
    quant = None
    if q is not None:
        quant = InputQuant(
            bit_width=int(q["bit_width"]),
            signed=bool(q["signed"]),
            narrow=bool(q.get("narrow", False)),
            scale=float(q["scale"]),
            zero_point=float(q.get("zero_point", 0.0)),
            min=float(q["min"]),
            max=float(q["max"]),
        )
    shape = [int(s) for s in inp["shape"]]
    return IODescription(
        input_name=str(inp.get("name", "global_in")),
        input_shape=shape,
        layout=str(inp.get("layout", "NCW")),
        quant=quant,
        output_name=str(out.get("name", "global_out")),
        output_shape=[int(s) for s in out.get("shape", [])],
        output_kind=str(out.get("kind", "logits")),
        classes=list(data.get("classes", [])),
        frame_length=int(data.get("frame_length", shape[-1])),
        model=str(data.get("model", "")),
        source=source,
    )


def quant_from_graph(model) -> InputQuant | None:
    """Derive the input quantizer from the Quant node that consumes the graph input (QONNX)."""
    iname = model.graph.input[0].name
    consumers = model.find_consumers(iname) or []
    quants = [n for n in consumers if n.op_type == "Quant"]
    if not quants:
        return None
    q = quants[0]
    scale = model.get_initializer(q.input[1])
    zp = model.get_initializer(q.input[2])
    bw = model.get_initializer(q.input[3])
    if scale is None or zp is None or bw is None:
        raise ValueError(f"input Quant node {q.name} has non-constant parameters")
    if np.asarray(scale).size != 1 or np.asarray(zp).size != 1:
        raise ValueError(f"input Quant node {q.name} is not per-tensor (scale shape {np.shape(scale)})")
    attrs = {a.name: a.i for a in q.attribute if a.type == 2}
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    bits = int(np.asarray(bw).item())
    scale_f, zp_f = float(np.asarray(scale).item()), float(np.asarray(zp).item())
    lo = -(2 ** (bits - 1)) + int(narrow) if signed else 0
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1 - int(narrow)
    return InputQuant(
        bit_width=bits,
        signed=signed,
        narrow=narrow,
        scale=scale_f,
        zero_point=zp_f,
        min=(lo - zp_f) * scale_f,
        max=(hi - zp_f) * scale_f,
    )


def load_io(model_path: Path, model=None) -> IODescription:
    """io.json next to the model if present, else derived from the graph (its first Quant node)."""
    io_path = Path(model_path).parent / "io.json"
    if io_path.is_file():
        return parse_io(read_json(io_path), source=str(io_path))
    if model is None:
        from qonnx.core.modelwrapper import ModelWrapper

        model = ModelWrapper(str(model_path))
    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    ishape = [int(d) for d in model.get_tensor_shape(iname)]
    oshape = model.get_tensor_shape(oname)
    return IODescription(
        input_name=iname,
        input_shape=ishape,
        layout="NCW",
        quant=quant_from_graph(model),
        output_name=oname,
        output_shape=[int(d) for d in oshape] if oshape else [],
        frame_length=ishape[-1],
        model=Path(model_path).stem,
        source="derived from the graph (no io.json next to the model)",
    )

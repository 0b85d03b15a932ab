"""The accelerator of a build folder, executed in software: the emulator behind driver/'s emulation backend.

    python -m compile.emulate <build folder> [--artefact steps/NN_<step>.onnx] [--backend python|rtlsim]

It plays the board's part for a driver that has no board. driver/ (numpy < 2, no torch) cannot import
finn-plus (which imports torch and needs numpy 2), so it starts this worker in the compile environment
and talks to it over a pipe, as it talks to the accelerator over DMA on a board:

- on start the worker writes one JSON line: the artefact it runs (the build's last accelerator graph,
  the last artefact of compile/ that Python can execute) and finn-plus's `io_shape_dict` for it
  (datatypes, normal/folded/packed shapes: what finn-plus's driver generation would write into
  settings.json, derived the same way from the first and last dataflow layer);
- each request is a JSON line {"op": "execute", "batch": n, "nbytes": m} followed by one .npy file of m
  bytes: the packed
  input buffer, uint8 (n, *ishape_packed[1:]), exactly the bytes an input DMA would read;
- the answer is a JSON line {"ok": true, "seconds": t, "nbytes": m} followed by one .npy file: the packed output
  buffer an output DMA would write; or {"ok": false, "error": "..."} (the worker carries on);
- {"op": "quit"} ends it.

Backends:
- python (default): the worker unpacks with finn-plus's own data packing (the compiler side of the
  convention the board driver mirrors), executes every frame with FINN's Python execution of each HW
  layer (as compile/verify.py does: HLS/RTL variants run as their generic layer), and packs the result.
- rtlsim: the packed buffer streams, beat by beat, through the verilated RTL of the stitched
  accelerator (compile/rtlsim/: the layers' generated RTL, FINN's width converters, FIFOs at the depths
  `make rtlsim` sized, else InsertFIFO's), exactly as the DMA engine would stream it; each answer also
  carries the clock cycles the batch took ("cycles"), from the first input beat to the last output beat.
Anything the graph prints goes to stderr: stdout carries only the protocol.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from amc_cli import command

PROTOCOL = "amc-fpga-emulator/1"
FLAGS = {"reverse_endian": True, "reverse_inner": True}  # the convention of finn-plus's DMA driver


def latest_accelerator(build_dir: Path) -> Path:
    """The last step artefact that is the accelerator (metadata amc_role = dataflow child)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from .steps import STEP_NAMES
    from .verify import CHILD_ROLE

    steps = build_dir / "steps"
    for i in range(len(STEP_NAMES), 0, -1):
        p = steps / f"{i:02d}_{STEP_NAMES[i - 1]}.onnx"
        if p.is_file() and ModelWrapper(str(p)).get_metadata_prop("amc_role") == CHILD_ROLE:
            return p
    raise FileNotFoundError(f"{build_dir}: no accelerator artefact under steps/ (the build must have run up to "
                            "create_dataflow_partition at least: make compile)")


def io_shape_dict(model) -> dict:
    """finn-plus's driver shapes (finn.util.basic.get_driver_shapes) for an accelerator graph without
    IODMAs: folded shapes from the first and last dataflow layer, packed shapes by packing a dummy."""
    from finn.util.data_packing import finnpy_to_packed_bytearray
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import gen_finn_dt_tensor

    out: dict = {k: [] for k in ("idt", "ishape_normal", "ishape_folded", "ishape_packed",
                                 "odt", "oshape_normal", "oshape_folded", "oshape_packed")}
    for side, tensors in (("i", model.graph.input), ("o", model.graph.output)):
        for t in tensors:
            dt = model.get_tensor_datatype(t.name)
            if side == "i":
                folded = tuple(getCustomOp(model.find_consumer(t.name)).get_folded_input_shape())
            else:
                folded = tuple(getCustomOp(model.find_producer(t.name)).get_folded_output_shape())
            out[f"{side}dt"].append(f"DataType['{dt.name}']")
            out[f"{side}shape_normal"].append(tuple(model.get_tensor_shape(t.name)))
            out[f"{side}shape_folded"].append(folded)
            out[f"{side}shape_packed"].append(
                tuple(finnpy_to_packed_bytearray(gen_finn_dt_tensor(dt, folded), dt).shape))
    out["num_inputs"], out["num_outputs"] = len(model.graph.input), len(model.graph.output)
    return out


def check_packed(shapes: dict, packed: np.ndarray) -> int:
    """The batch size of a packed input buffer, after checking it is the DMA's: uint8, packed shape."""
    n = packed.shape[0]
    want = (n, *shapes["ishape_packed"][0][1:])
    if packed.dtype != np.uint8 or tuple(packed.shape) != want:
        raise ValueError(f"packed input is {packed.dtype} {tuple(packed.shape)}, expected uint8 {want}")
    return n


class Emulator:
    def __init__(self, artefact: Path):
        from qonnx.core.modelwrapper import ModelWrapper

        from .verify import generalize

        self.artefact = artefact
        model = ModelWrapper(str(artefact))
        self.shapes = io_shape_dict(model)
        if self.shapes["num_inputs"] != 1 or self.shapes["num_outputs"] != 1:
            raise ValueError(f"{artefact}: {self.shapes['num_inputs']} inputs / {self.shapes['num_outputs']} "
                             "outputs; the emulator handles one of each")
        self.gmodel = generalize(model)
        self.iname = self.gmodel.graph.input[0].name
        self.oname = self.gmodel.graph.output[0].name
        self.idt = model.get_tensor_datatype(model.graph.input[0].name)
        self.odt = model.get_tensor_datatype(model.graph.output[0].name)

    def execute(self, packed: np.ndarray) -> np.ndarray:
        from finn.core.onnx_exec import execute_onnx
        from finn.util.data_packing import finnpy_to_packed_bytearray, packed_bytearray_to_finnpy

        s = self.shapes
        n = check_packed(s, packed)
        folded = packed_bytearray_to_finnpy(packed, self.idt, (n, *s["ishape_folded"][0][1:]), **FLAGS)
        normal = folded.reshape(n, *s["ishape_normal"][0][1:]).astype(np.float32)
        outs = []
        for i in range(n):
            outs.append(execute_onnx(self.gmodel, {self.iname: normal[i: i + 1]})[self.oname])
        out = np.concatenate(outs).reshape(n, *s["oshape_folded"][0][1:])
        return np.ascontiguousarray(finnpy_to_packed_bytearray(out, self.odt, **FLAGS))


class RtlEmulator:
    """The stitched accelerator's RTL, verilated; the same execute() as Emulator, plus cycle counts."""

    execution = ("RTL simulation (Verilator) of the stitched accelerator: the layers' generated RTL with "
                 "FINN's width converters and FIFOs; logic only, no DMA shell, no timing closure")

    def __init__(self, build_dir: Path, artefact: Path, log=lambda m: print(m, file=sys.stderr)):
        from finn.util.settings import get_settings
        from qonnx.core.modelwrapper import ModelWrapper

        from .config import config_from_build
        from .rtlsim.sim import Simulator
        from .rtlsim.stitch import stitched_model
        from .vivado import apply_sized_fifos

        cfg = config_from_build(build_dir)
        self.artefact = artefact
        model = ModelWrapper(str(artefact))
        self.shapes = io_shape_dict(model)
        sized = apply_sized_fifos(cfg, model)
        # the same folder as make rtlsim's sized design: an unchanged design is not verilated again
        work = cfg.out_dir / "rtlsim" / "sized"
        stitched, _ = stitched_model(model, cfg.board.part, cfg.clock_period_ns, work / "gen", None)
        self.sim = Simulator.build(stitched, None, work, get_settings().finn_rtllib, log=log)
        self.clock_mhz = cfg.clock_mhz
        self.fifo_depths = "sized by make rtlsim" if sized else "InsertFIFO's (not sized: run make rtlsim)"
        self.last_cycles = 0

    def execute(self, packed: np.ndarray) -> np.ndarray:
        s = self.shapes
        n = check_packed(s, packed)
        res = self.sim.run_packed(packed, n)
        self.last_cycles = int(res.out_cycles[-1] - res.in_cycles[0] + 1)
        return np.ascontiguousarray(res.output.reshape(n, *s["oshape_packed"][0][1:]))


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _reply(proto, header: dict, array: np.ndarray | None = None) -> None:
    blob = npy_bytes(array) if array is not None else b""
    if array is not None:
        header = {**header, "nbytes": len(blob)}
    proto.write((json.dumps(header) + "\n").encode() + blob)
    proto.flush()


def serve(build_dir: Path, artefact: Path | None, backend: str = "python") -> int:
    # the protocol owns the original stdout; anything printed (FINN's messages) goes to stderr
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    try:
        from .finnenv import init_finn

        if not (build_dir / "accelerator.json").is_file():
            raise FileNotFoundError(f"{build_dir} is not a build folder (no accelerator.json): make compile first")
        init_finn(build_dir / "codegen")
        art = artefact if artefact is not None else latest_accelerator(build_dir)
        emu = RtlEmulator(build_dir, art) if backend == "rtlsim" else Emulator(art)
    except Exception as e:  # report why, then stop: there is nothing to serve
        import traceback

        traceback.print_exc()
        _reply(proto, {"ready": False, "error": f"{type(e).__name__}: {e}"})
        return 2
    hello = {"ready": True, "format": PROTOCOL, "artefact": str(art.resolve()), "backend": backend,
             "build": str(build_dir.resolve()), "io_shape_dict": emu.shapes,
             "execution": "finn-plus Python execution of each HW layer (generic op of HLS/RTL variants)"}
    if backend == "rtlsim":
        hello.update(execution=emu.execution, clock_mhz=emu.clock_mhz, fifo_depths=emu.fifo_depths)
    _reply(proto, hello)
    while True:
        line = inp.readline()
        if not line:
            return 0  # the driver went away
        try:
            req = json.loads(line)
        except json.JSONDecodeError:
            _reply(proto, {"ok": False, "error": f"not a JSON request line: {line[:80]!r}"})
            return 2  # the stream is out of step: stop rather than guess
        op = req.get("op")
        if op == "quit":
            return 0
        if op != "execute":
            _reply(proto, {"ok": False, "error": f"unknown op {op!r}"})
            continue
        blob = inp.read(int(req.get("nbytes", -1)))
        packed = np.lib.format.read_array(io.BytesIO(blob), allow_pickle=False)
        t0 = time.perf_counter()
        try:
            out = emu.execute(packed)
        except Exception as e:
            import traceback

            traceback.print_exc()
            _reply(proto, {"ok": False, "error": f"{type(e).__name__}: {e}"})
            continue
        answer = {"ok": True, "seconds": time.perf_counter() - t0}
        if backend == "rtlsim":
            answer["cycles"] = emu.last_cycles
        _reply(proto, answer, out)


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m compile.emulate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", help="a build folder written by `make compile`")
    ap.add_argument("--artefact", default=None, help="accelerator graph to run (default: the build's last)")
    ap.add_argument("--backend", choices=["python", "rtlsim"], default="python",
                    help="python: FINN's Python execution; rtlsim: the verilated stitched accelerator")
    a = ap.parse_args(argv)
    build = Path(a.build_dir)
    return serve(build, Path(a.artefact) if a.artefact else None, a.backend)


if __name__ == "__main__":
    sys.exit(main())

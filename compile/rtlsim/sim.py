"""A verilated simulator for HW layers of a FINN graph, and streaming integer tensors through it.

`Simulator.build(model, nodes, work_dir)` writes the top level (top.py), verilates it with the
AXI-stream harness (verilator.py) and keeps what it needs to run: stream widths, datatypes, folded
shapes, the FIFO probes. `run(x)` packs a batch of folded input tensors into stream beats exactly as
finn-plus's DMA driver packs them (little-endian bytes, element 0 in the lowest bits), runs the
harness, and unpacks the output beats the same way, with the cycle of every handshake.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amc_cli import ConstraintMissed

from . import top as topgen
from .verilator import build as verilator_build

PACKING = {"reverse_inner": True, "reverse_endian": True}  # finn-plus-driver's DMA convention


class SimulationError(ConstraintMissed, RuntimeError):
    pass


@dataclass
class RunResult:
    output: np.ndarray  # folded output, (n, *oshape_folded[1:]) integers as float32
    in_cycles: np.ndarray  # cycle of each input beat's handshake
    out_cycles: np.ndarray  # cycle of each output beat's handshake
    in_beats_per_frame: int
    out_beats_per_frame: int
    fifo_maxcount: dict[str, int]
    extra_out_beats: int

    def frame_out_end(self) -> np.ndarray:
        return self.out_cycles[self.out_beats_per_frame - 1:: self.out_beats_per_frame]

    def cycles_per_frame(self) -> float:
        """Steady state: the spacing of the frames' last output beats, over the second half of the frames
        when there are 4 or more (the first frames still fill the pipeline); one frame: its whole time."""
        ends = self.frame_out_end()
        if len(ends) < 2:
            return float(ends[-1] - self.in_cycles[0])
        tail = ends[len(ends) // 2:] if len(ends) >= 4 else ends
        return float(np.diff(tail).mean())


def beats_to_words(packed: np.ndarray, beats: int) -> np.ndarray:
    """Packed bytes (n, ..., bytes per beat) -> little-endian uint32 words per beat (beats, words)."""
    b = packed.reshape(beats, -1)
    pad = (-b.shape[1]) % 4
    if pad:
        b = np.concatenate([b, np.zeros((beats, pad), np.uint8)], axis=1)
    return np.ascontiguousarray(b).view("<u4")


def words_to_packed(words: np.ndarray, bytes_per_beat: int) -> np.ndarray:
    return np.ascontiguousarray(words).view(np.uint8)[:, :bytes_per_beat]


class Simulator:
    def __init__(self, exe: Path, run_dir: Path, info: dict):
        self.exe, self.run_dir, self.info = Path(exe), Path(run_dir), info

    @classmethod
    def build(cls, model, node_names: list[str] | None, work_dir: Path, rtllib: Path, log=lambda m: None,
              dsp: str = "behavioural") -> "Simulator":
        """Verilate the nodes `node_names` of `model` (default: all), joined as the graph joins them.
        dsp: "behavioural" (mvu.sv's own model under Verilator) or "unisim" (the DSP48E2 primitives,
        simulated with Xilinx's models: unisim.py)."""
        from qonnx.custom_op.registry import getCustomOp

        work_dir = Path(work_dir).resolve()  # Verilator and the harness run in folders of their own
        work_dir.mkdir(parents=True, exist_ok=True)
        nodes = [n for n in model.graph.node if node_names is None or n.name in node_names]
        units = [topgen.node_unit(model, n, rtllib) for n in nodes]
        sv, desc = topgen.generate_top(model, units)
        top_file = work_dir / "amc_top.sv"
        if not top_file.is_file() or top_file.read_text() != sv:
            top_file.write_text(sv)
        sources = [*topgen.ordered_sources(units), top_file]
        defines, undefines = [], []
        if dsp == "unisim":
            from . import unisim

            sources = unisim.adapted_models(work_dir / "unisim") + sources
            defines, undefines = unisim.DEFINES, unisim.UNDEFINES
        elif dsp != "behavioural":
            raise ValueError(f"dsp={dsp!r}: expected 'behavioural' or 'unisim'")
        exe = verilator_build(sources, work_dir / "obj", defines=defines, undefines=undefines, log=log)
        # data files the layers read by relative path (threshold memories) next to the simulation
        run_dir = work_dir / "run"
        run_dir.mkdir(exist_ok=True)
        for n in nodes:
            inst = getCustomOp(n)
            cg = inst.get_nodeattr("code_gen_dir_ipgen") if "code_gen_dir_ipgen" in inst.get_nodeattr_types() else ""
            if cg and Path(cg).is_dir():
                for f in Path(cg).glob("*.dat"):
                    shutil.copy2(f, run_dir / f.name)
        first = getCustomOp(model.get_node_from_name(desc["first"]))
        last = getCustomOp(model.get_node_from_name(desc["last"]))
        info = {
            **desc,
            "idt": first.get_input_datatype(0).name,
            "odt": last.get_output_datatype(0).name,
            "ishape_folded": list(first.get_folded_input_shape(0)),
            "oshape_folded": list(last.get_folded_output_shape(0)),
            "nodes": [n.name for n in nodes],
            "dsp": dsp,
        }
        (work_dir / "sim.json").write_text(json.dumps(info, indent=2) + "\n")
        return cls(exe, run_dir, info)

    @property
    def in_beats_per_frame(self) -> int:
        return int(np.prod(self.info["ishape_folded"][1:-1]))

    @property
    def out_beats_per_frame(self) -> int:
        return int(np.prod(self.info["oshape_folded"][1:-1]))

    def run_packed(self, packed_in: np.ndarray, n: int, *, ready_prob: float = 1.0, valid_prob: float = 1.0,
                   seed: int = 0, idle_limit: int = 200000, tail: int = 0) -> RunResult:
        """Stream the packed input bytes of `n` frames; return packed output bytes in `.output`."""
        ib, ob = self.in_beats_per_frame * n, self.out_beats_per_frame * n
        out_bytes = (self.info["out_width"] + 7) // 8
        words_in = beats_to_words(np.asarray(packed_in, np.uint8), ib)
        out_words = (out_bytes + 3) // 4
        fin, fout, ftimes = (self.run_dir / f"run.{s}" for s in ("in.bin", "out.bin", "times.bin"))
        words_in.tofile(fin)
        cmd = [str(self.exe), str(fin), str(fout), str(ftimes), str(ib), str(words_in.shape[1]), str(ob),
               str(out_words), repr(float(ready_prob)), repr(float(valid_prob)), str(int(seed)), str(int(idle_limit)),
               str(10 ** 15), str(int(tail)), str(len(self.info["fifos"]))]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=str(self.run_dir))
        try:
            summary = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            raise SimulationError(f"the simulator exited with {r.returncode} without a summary:\n"
                                  f"{r.stdout[-2000:]}{r.stderr[-2000:]}") from None
        if not summary.get("ok"):
            what = {"stall": "the accelerator stalled (no handshake for "
                             f"{idle_limit} cycles)", "max_cycles": "the cycle limit was reached"}
            raise SimulationError(f"{what.get(summary.get('error'), summary.get('error'))}: "
                                  f"{summary['in_beats']}/{ib} input beats taken, {summary['out_beats']}/{ob} "
                                  f"output beats given after {summary['cycles']} cycles"
                                  + (f"\n{r.stderr[-2000:]}" if r.stderr.strip() else ""))
        words_out = np.fromfile(fout, dtype="<u4").reshape(ob, out_words)
        times = np.fromfile(ftimes, dtype="<u8")
        probes = summary.get("probes", [])
        for f in (fin, fout, ftimes):
            f.unlink(missing_ok=True)
        return RunResult(
            output=words_to_packed(words_out, out_bytes).reshape(n, -1),
            in_cycles=times[:ib], out_cycles=times[ib:],
            in_beats_per_frame=self.in_beats_per_frame, out_beats_per_frame=self.out_beats_per_frame,
            fifo_maxcount={name: int(v) for name, v in zip(self.info["fifos"], probes)},
            extra_out_beats=int(summary.get("extra_out_beats", 0)),
        )

    def run(self, folded: np.ndarray, **kw) -> RunResult:
        """Stream folded integer tensors (n, *ishape_folded[1:]); `.output` comes back folded too."""
        from finn.util.data_packing import finnpy_to_packed_bytearray, packed_bytearray_to_finnpy
        from qonnx.core.datatype import DataType

        n = folded.shape[0]
        want = (n, *self.info["ishape_folded"][1:])
        if tuple(folded.shape) != want:
            raise ValueError(f"input of shape {folded.shape}, expected {want}")
        packed = finnpy_to_packed_bytearray(folded, DataType[self.info["idt"]], **PACKING)
        res = self.run_packed(packed, n, **kw)
        ob = (self.info["out_width"] + 7) // 8
        packed_out = res.output.reshape(n, *self.info["oshape_folded"][1:-1], ob)
        res.output = packed_bytearray_to_finnpy(packed_out, DataType[self.info["odt"]],
                                                (n, *self.info["oshape_folded"][1:]), **PACKING)
        return res

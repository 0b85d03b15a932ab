"""`compile.build rtlsim`: the whole accelerator in RTL simulation, bit-exact, FIFOs sized, cycles measured.

1. Stitch the build's last accelerator artefact as finn-plus's builder would (stitch.py: width
   converters, FIFOs), every FIFO one frame deep, verilate it (the sizing design).
2. Stream the build's verification frames back to back (as input codes, channels last, exactly what
   the driver sends), compare every output word with the build's golden integer output, and read each
   FIFO's maximum occupancy.
3. FIFO sizing, as FINN's does with xsim: the cheapest depths that keep step 2's cycles per frame.
   InsertFIFO's own depths (2) where they already do; otherwise each FIFO gets the depth it reached
   (at least 2), and the sized design is verilated and run again at full rate (its cycles per frame
   must stay those of step 2). The chosen design runs once more under random back-pressure at its
   output; every run bit-exact. The depths go into
   folding.json (`inFIFODepths`/`outFIFODepths` of the layer each FIFO feeds or follows), which
   `make bitstream` hands to finn-plus.

Measured: cycles per frame in steady state (spacing of the last frames' final output beats),
latency (first input beat to first output beat of frame 0), frames/s at the build's clock. They are
logic only: no DMA shell, no timing closure.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from amc_cli import ConstraintMissed
from amc_cli.inputs import check_memory, read_json

from ..config import BuildConfig
from ..transforms.inputview import polyphase_view
from .sim import RunResult, SimulationError, Simulator
from .stitch import FifoSite, fifo_resources, stitched_model

LABEL = "RTL simulation: logic only, no DMA shell, no timing closure"


class RtlsimMismatch(ConstraintMissed, RuntimeError):
    pass


def reference_frames(cfg: BuildConfig, frames: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Accelerator input codes (channels last) and golden integer outputs for `frames` frames: the
    build's verification frames (verify/), repeated in turn when more frames are asked for. Also
    returns how many distinct frames there are."""
    ref, gold = cfg.verify_dir / "reference.npz", cfg.verify_dir / "golden_partition.npz"
    if not ref.is_file() or not gold.is_file():
        raise FileNotFoundError(f"{cfg.verify_dir} has no reference frames or golden output: compile with "
                                "verification on (the default) before simulating")
    codes = np.load(ref)["codes"]  # (n, C, L)
    golden = np.load(gold)["int_out"]
    info = read_json(cfg.out_dir / "accelerator.json")
    shape = info["input"]["accelerator_shape"]
    codes = polyphase_view(codes, int(info["input"].get("polyphase", 1)))
    n, c, length = codes.shape
    if shape[-1] == c:  # channels last, as host.pre makes it
        x = np.stack([codes[i].T.reshape(shape[1:]) for i in range(n)])
    else:
        x = codes.reshape(n, *shape[1:])
    # the simulation holds every frame's input and output words at once, plus its trace of beats
    check_memory(frames * (x[0].size + golden[0].size) * 8 * 2, f"--frames {frames:,}", "the streamed frames")
    idx = np.arange(frames) % n
    return x[idx], golden[idx], n


def _compare(res: RunResult, golden: np.ndarray, what: str) -> None:
    got = res.output.reshape(golden.shape[0], -1)
    want = golden.reshape(golden.shape[0], -1)
    bad = np.argwhere(got != want)
    if len(bad) or res.extra_out_beats:
        if len(bad):
            f, i = bad[0]
            raise RtlsimMismatch(f"{what}: frame {f} differs from the golden output first at element {i} "
                                 f"(RTL {got[f, i]:g}, golden {want[f, i]:g}); {len(bad)} elements differ")
        raise RtlsimMismatch(f"{what}: {res.extra_out_beats} output beats more than expected")


def _fold_input(sim: Simulator, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], *sim.info["ishape_folded"][1:])


def _run(model, work: Path, cfg, x, golden, what, log, dsp="behavioural", **kw) -> tuple[Simulator, RunResult]:
    from finn.util.settings import get_settings

    t0 = time.time()
    sim = Simulator.build(model, None, work, get_settings().finn_rtllib, log=log, dsp=dsp)
    t1 = time.time()
    res = sim.run(_fold_input(sim, x), **kw)
    _compare(res, golden, what)
    log(f"[rtlsim] {what}: bit-exact on {x.shape[0]} frames, {res.cycles_per_frame():,.1f} cycles/frame "
        f"(verilate {t1 - t0:.0f} s, simulate {time.time() - t1:.1f} s)")
    return sim, res


def _save_depths(cfg: BuildConfig, depths: dict[FifoSite, int]) -> None:
    """Sized depths into folding.json, as the FIFO depth attributes of the layers around each FIFO."""
    from ..folding import load_folding, save_folding

    fold = load_folding(cfg.folding_path) if cfg.folding_path.is_file() else {"Defaults": {}}
    lists: dict[tuple[str, str], dict[int, int]] = {}
    for site, d in depths.items():
        lists.setdefault((site.node, site.attr), {})[site.index] = int(d)
    for (node, attr), by_index in lists.items():
        n = max(by_index) + 1
        fold.setdefault(node, {})[attr] = [by_index.get(i, 2) for i in range(n)]
    save_folding(fold, cfg.folding_path)


def check_layers(cfg: BuildConfig, model, ready_prob: float, seed: int, log=print, frames: int = 2,
                 dsp: str = "behavioural") -> list[dict]:
    """Every layer alone against FINN's Python model of it (FINN's per-node rtlsim, with Verilator):
    at full rate, and with random output back-pressure and input gaps. A mismatch raises."""
    from finn.util.settings import get_settings

    from .node import check_node

    rows = []
    for node in model.graph.node:
        work = cfg.out_dir / "rtlsim" / "layers" / node.name
        for rp in (1.0, ready_prob):
            c = check_node(model, node.name, work, get_settings().finn_rtllib, frames=frames, ready_prob=rp,
                           valid_prob=rp, seed=seed, dsp=dsp, log=log)
            if not c.bit_exact:
                raise RtlsimMismatch(f"layer {node.name} ({node.op_type}) alone, output ready {rp:.0%}: "
                                     f"{c.mismatches} elements differ from FINN's Python model; first: {c.first_mismatch}")
            rows.append(c.to_dict())
        log(f"[rtlsim] layer {node.name}: bit-exact at full rate and under back-pressure, "
            f"{rows[-2]['cycles_per_frame']:,.0f} cycles/frame (estimate {rows[-2]['expected_cycles']:,})")
    return rows


def simulate_accelerator(cfg: BuildConfig, frames: int = 8, size_fifos: bool = True, ready_prob: float = 0.5,
                         seed: int = 0, per_layer: bool = False, dsp: str = "behavioural", log=print) -> dict:
    """Steps 1-3 above (with per_layer, every layer alone first: check_layers); returns the report's
    `rtlsim` section (also written into report.json/md). dsp="unisim" simulates MVAU_rtl's DSP48E2
    primitives with Xilinx's models (unisim.py) instead of mvu.sv's behavioural model."""
    from qonnx.core.modelwrapper import ModelWrapper

    from ..emulate import latest_accelerator
    from ..finnenv import init_finn
    from ..report import add_section

    if frames < 1:
        raise ValueError(f"--frames must be at least 1, got {frames}")
    init_finn(cfg.codegen_dir)
    artefact = latest_accelerator(cfg.out_dir)
    model = ModelWrapper(str(artefact))
    x, golden, distinct = reference_frames(cfg, frames)
    part, period = cfg.board.part, cfg.clock_period_ns
    work = cfg.out_dir / "rtlsim"
    rep = read_json(cfg.out_dir / "report.json")
    est_cpf, est_lat = rep["throughput"]["cycles_per_frame"], rep["latency"]["cycles"]

    layers = check_layers(cfg, model, ready_prob, seed, log, dsp=dsp) if per_layer else None
    deep, sites = stitched_model(model, part, period, work / "deep" / "gen", "frame")
    tag = "" if dsp == "behavioural" else f"-{dsp}"
    _, res = _run(deep, work / f"deep{tag}", cfg, x, golden, "stitched accelerator, FIFOs one frame deep", log, dsp)
    measured = res
    section = {"label": LABEL, "artefact": str(artefact.relative_to(cfg.out_dir)), "frames": frames,
               "distinct_frames": distinct, "bit_exact": True, "dsp": dsp}
    if layers is not None:
        section["layers"] = layers
    if size_fifos:
        measured, section["fifo_sizing"] = _size_fifos(cfg, model, work, tag, x, golden, deep, sites, res,
                                                       ready_prob, seed, dsp, log)
    cpf = measured.cycles_per_frame()
    latency = int(measured.out_cycles[0] - measured.in_cycles[0])
    clock_hz = cfg.clock_mhz * 1e6
    section.update({
        "cycles_per_frame": cpf,
        "latency_cycles": latency,
        "frames_per_s": clock_hz / cpf,
        "latency_us": latency / clock_hz * 1e6,
        "estimate": {"cycles_per_frame": est_cpf, "latency_cycles": est_lat},
        "cycles_per_frame_vs_estimate": cpf / est_cpf,
    })
    # sized FIFOs change the design a synthesis measured
    add_section(cfg.out_dir, "rtlsim", section, stale=("synth",) if size_fifos else ())
    return section


def _size_fifos(cfg, model, work, tag, x, golden, deep, sites, deep_res, ready_prob, seed, dsp, log):
    """Step 3: the cheapest FIFO depths that keep the one-frame-deep design's rate. InsertFIFO's own
    depths (2) when they already do; otherwise each FIFO's maximum occupancy in the deep run (at least
    2), with slack added while the sized design is slower. The chosen design must also stay bit-exact
    under random output back-pressure. Returns (its run, the report's fifo_sizing section)."""
    part, period = cfg.board.part, cfg.clock_period_ns
    target = deep_res.cycles_per_frame()
    shallow, _ = stitched_model(model, part, period, work / f"shallow{tag}" / "gen", None)
    stall = None
    try:
        sim, res_shallow = _run(shallow, work / f"shallow{tag}", cfg, x, golden,
                                "FIFOs unsized (InsertFIFO's depths)", log, dsp)
    except SimulationError as e:  # branches that rejoin: the short one's FIFOs must hold the long one's delay
        stall, res_shallow = str(e).splitlines()[0], None
        log(f"[rtlsim] FIFOs unsized (InsertFIFO's depths): {stall}; as expected where branches rejoin "
            "(a residual add, a concatenation), sizing from the one-frame-deep run")
    chosen, res = shallow, res_shallow
    depths = {sites[n.name]: _depth(n) for n in _fifos(shallow)}
    method = "InsertFIFO's depths: they already keep the one-frame-deep design's rate"
    if res_shallow is None or res_shallow.cycles_per_frame() > target * 1.001:
        method = "each FIFO's maximum occupancy in the one-frame-deep design, at least 2"
        depths = {sites[name]: max(2, int(c)) for name, c in deep_res.fifo_maxcount.items()}
        for attempt in range(3):
            chosen, _ = stitched_model(model, part, period, work / f"sized{tag}" / "gen", depths)
            sim, res = _run(chosen, work / f"sized{tag}", cfg, x, golden, "FIFOs sized", log, dsp)
            if res.cycles_per_frame() <= target * 1.001:
                break
            log(f"[rtlsim] sized FIFOs slowed the design down; adding slack (round {attempt + 1})")
            depths = {s: d + max(1, d // 4) for s, d in depths.items()}
        else:
            raise RtlsimMismatch("FIFO sizing: the sized design stays slower than the deep one")
    bp = sim.run(_fold_input(sim, x), ready_prob=ready_prob, seed=seed)
    what = f"FIFOs sized, random back-pressure (output ready {ready_prob:.0%})"
    _compare(bp, golden, what)
    log(f"[rtlsim] {what}: bit-exact on {x.shape[0]} frames")
    _save_depths(cfg, depths)
    return res, {
        "method": method,
        "depths": {s.label(): d for s, d in depths.items()},
        "initial_depths": {sites[n.name].label(): _depth(n) for n in _fifos(deep)},
        "estimate_sized": fifo_resources(chosen, part),
        "estimate_initial": fifo_resources(deep, part),
        "unsized": {"depths": {sites[n.name].label(): _depth(n) for n in _fifos(shallow)},
                    "estimate": fifo_resources(shallow, part),
                    "cycles_per_frame": None if res_shallow is None else res_shallow.cycles_per_frame(),
                    "stalls": stall},
        "cycles_per_frame_sized": res.cycles_per_frame(),
        "cycles_per_frame_initial": target,
        "backpressure_check": {"ready_prob": ready_prob, "seed": seed, "bit_exact": True},
        "written_to": "folding.json",
    }


def _fifos(model):
    return [n for n in model.graph.node if n.op_type.startswith("StreamingFIFO")]


def _depth(node) -> int:
    from qonnx.custom_op.registry import getCustomOp

    return int(getCustomOp(node).get_nodeattr("depth"))

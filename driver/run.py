"""What runs on the board (or, in emulation, here): accuracy pass and benchmarks -> a results folder.

    python -m driver.run --package <deployment package> --data <RadioML .h5> --out <results dir>
                         [--backend board|emulation --build <build folder>] [--per-block K] [--snrs 30,0]

The deployment package (assembled by driver.deploy) holds meta/ (io.json, accelerator.json,
report.json, frames.npz: the frames to run), bitfile/ and driver/ (finn-plus's bitfile, hwh and
settings.json, where Vivado ran) and code/driver/ (this package). The results folder gets
results.json (benchmarks, provenance) and frames.npz (per frame: index, label, snr_db, predicted,
logits, int_out); the host turns them into the report (driver.report), so nothing here plots.
The data file is checked before the accelerator starts (readable HDF5 of the RadioML schema; its
labels and SNRs at the frames' indices those of meta/frames.npz), so a damaged or foreign file is one
line and exit status 2, never a traceback or a disagreement.
Exit status: 0 done, 2 usage/metadata/data error, 3 no bitfile, 4 the accelerator or emulator failed.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from amc_cli import command
from amc_cli.inputs import read_json

from .frontend import Classifier, DataError, FrameSet, check_data_file, check_labels
from .meta import MetadataError, ModelIO

RESULTS_FORMAT = "amc-fpga-deploy-results/1"


def _median(xs):
    return float(np.median(np.asarray(xs, dtype=np.float64))) if len(xs) else None


def measure_throughput(accel, batch_sizes, repeats: int) -> list:
    """finn-plus's throughput test (DMA runtime of one batch of random codes) at each batch size."""
    rows = []
    for bs in batch_sizes:
        accel.batch_size = int(bs)
        accel.throughput_test()  # warm-up: caches, first-call costs
        runs = [accel.throughput_test() for _ in range(max(1, repeats))]
        keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        row = {k: _median([r[k] for r in runs]) for k in keys}
        row["batch_size"] = int(bs)
        row["repeats"] = len(runs)
        rows.append(row)
    return rows


def measure_latency(accel, repeats: int) -> dict:
    """Single-frame latency: one frame through the DMA (execute_on_buffers), and through the whole
    driver path (fold, pack, copy, run, copy back, unpack: execute)."""
    from qonnx.util.basic import gen_finn_dt_tensor

    accel.batch_size = 1
    x = gen_finn_dt_tensor(accel.idt(), accel.ishape_normal())
    accel.execute(x)  # warm-up
    dma, full = [], []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        accel.execute_on_buffers()
        dma.append(time.perf_counter() - t0)
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        accel.execute(x)
        full.append(time.perf_counter() - t0)
    us = lambda xs, q: float(np.percentile(np.asarray(xs) * 1e6, q))  # noqa: E731
    out = {"repeats": len(dma), "dma_median_us": us(dma, 50), "dma_p99_us": us(dma, 99), "dma_min_us": us(dma, 0),
           "execute_median_us": us(full, 50), "execute_p99_us": us(full, 99)}
    if getattr(accel, "last_cycles", None):  # RTL simulation: one frame's cycles, first beat in to last out
        out["simulated_cycles"] = accel.last_cycles
        out["simulated_us_at_clock"] = accel.last_cycles / accel.clock_mhz
    return out


def measure_energy(accel, batch_size: int, seconds: float, rails=None, sampler_factory=None) -> dict:
    """Energy per frame from the board's power rails: idle power, then power while batches run
    back to back for `seconds`. Total = mean active power x time / frames; dynamic subtracts idle."""
    from .board import PowerSampler

    try:
        sampler = (sampler_factory or PowerSampler)(rails)
    except Exception as e:  # no pynq power monitoring on this board
        return {"available": False, "reason": f"no readable power rails ({type(e).__name__}: {e})"}
    if not sampler.available:
        return {"available": False, "reason": "pynq.get_rails() lists no rail with a power sensor on this board"}
    accel.batch_size = int(batch_size)
    with sampler:
        time.sleep(min(seconds, 2.0))
    idle_w, idle_rails = sampler.mean_w(), sampler.per_rail_mean_w()
    frames = 0
    with sampler:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            accel.execute_on_buffers()
            frames += accel.batch_size
        elapsed = time.perf_counter() - t0
    active_w = sampler.mean_w()
    return {"available": True, "rails": sorted(sampler.sensors), "batch_size": int(batch_size), "frames": frames,
            "seconds": elapsed, "idle_w": idle_w, "active_w": active_w, "idle_rails_w": idle_rails,
            "active_rails_w": sampler.per_rail_mean_w(), "samples": len(sampler.samples),
            "j_per_frame_total": active_w * elapsed / frames,
            "j_per_frame_dynamic": max(active_w - idle_w, 0.0) * elapsed / frames}


def _versions() -> dict:
    out = {"python": platform.python_version(), "numpy": np.__version__, "host": platform.node(),
           "machine": platform.machine()}
    try:
        from importlib.metadata import version

        out["finn-plus-driver"] = version("finn-plus-driver")
    except Exception:
        out["finn-plus-driver"] = None
    return out


def open_backend(args, io: ModelIO):
    pkg = Path(args.package)
    if args.backend == "board":
        from .board import find_bitfile, open_board_overlay

        bit, settings = find_bitfile(pkg)
        accel = open_board_overlay(bit, settings, batch_size=args.batch_size, timeout_s=args.timeout_s)
        return accel, {"bitfile": str(bit), "settings": str(settings)}
    from .emulation import EmulatedOverlay

    if not args.build:
        raise MetadataError(f"--backend {args.backend} needs --build <build folder> (the emulator runs its accelerator)")
    worker = "rtlsim" if args.backend == "rtlsim" else "python"
    accel = EmulatedOverlay(args.build, batch_size=args.batch_size, compile_python=args.compile_python,
                            timeout_s=args.timeout_s, backend=worker, repo=getattr(args, "compile_repo", None))
    info = {"artefact": accel.artefact, "build": str(Path(args.build).resolve()),
            "compile_python": accel.compile_python,
            "note": "EMULATION: the compiled accelerator executed in software by finn-plus (Python), "
                    "not hardware. Its timings are the emulator's."}
    if worker == "rtlsim":
        info.update(execution=accel.worker_info.get("execution"), clock_mhz=accel.clock_mhz,
                    fifo_depths=accel.worker_info.get("fifo_depths"),
                    note="RTL SIMULATION: the stitched accelerator's RTL in Verilator, not hardware. Its cycle "
                         "counts are the logic's at the build's clock (no DMA shell, no timing closure); its "
                         "wall-clock timings are the simulator's.")
    return accel, info


def int_list(text: str | None, what: str, minimum: int | None = None) -> list | None:
    """'30,10' -> [30, 10]; a DataError naming the option otherwise ('' and None: None)."""
    if not text:
        return None
    try:
        out = [int(t) for t in str(text).split(",")]
    except ValueError:
        raise DataError(f"{what} {text!r}: expected whole numbers separated by commas, e.g. 30,10") from None
    if minimum is not None and any(v < minimum for v in out):
        raise DataError(f"{what} {text!r}: every value must be at least {minimum}")
    return out


def check_numbers(args) -> None:
    """The numeric options, before anything starts: one line naming the option."""
    for name, minimum in (("per_block", 1), ("limit", 1), ("batch_size", 1), ("block_frames", 1),
                          ("bench_repeats", 0), ("latency_repeats", 0)):
        v = getattr(args, name, None)
        if v is not None and v < minimum:
            raise DataError(f"--{name.replace('_', '-')} {v}: must be at least {minimum}")
    for name in ("timeout_s", "energy_seconds"):
        v = getattr(args, name, None)
        if v is not None and not (v >= 0 if name == "energy_seconds" else v > 0):
            raise DataError(f"--{name.replace('_', '-')} {v}: must be a positive number of seconds")
    int_list(args.snrs, "--snrs")
    int_list(args.bench_batch_sizes, "--bench-batch-sizes", 1)


def run(args) -> dict:
    check_numbers(args)
    pkg = Path(args.package)
    meta = pkg / "meta"
    io = ModelIO.load(meta / "accelerator.json", meta / "io.json" if (meta / "io.json").is_file() else None)
    frames_file = meta / "frames.npz"
    # the data file, before any accelerator starts: readable, the RadioML schema, and (where the package
    # names the frames) the file the software model was evaluated on
    check_data_file(args.data, io.frame_shape)
    if frames_file.is_file():
        fs = FrameSet.from_predictions(frames_file)
        check_labels(args.data, fs, "this deployment (meta/frames.npz: the frames the software model was "
                                    "evaluated on, with their labels and SNRs)")
    else:
        fs = FrameSet.official_test_split(args.data)
    snrs = int_list(args.snrs, "--snrs")
    if args.per_block or snrs or args.limit:
        fs = fs.subset(per_block=args.per_block, snrs=snrs, limit=args.limit)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if not args.quiet else (lambda m: None)

    accel, backend_info = open_backend(args, io)
    try:
        clf = Classifier(io, accel)
        log(f"[{accel.kind}] {len(fs)} frames ({fs.description}), batch size {accel.batch_size}")
        t0 = time.perf_counter()
        last = [0.0]

        def progress(done, n):
            if time.perf_counter() - last[0] > 10 or done == n:
                last[0] = time.perf_counter()
                log(f"[{accel.kind}] {done}/{n} frames, {done / (time.perf_counter() - t0):,.1f} frames/s")

        res = clf.run_frameset(args.data, fs, block_frames=args.block_frames, progress=progress)
        pass_s = time.perf_counter() - t0
        pass_cycles = getattr(accel, "simulated_cycles", 0)  # before the benchmarks add theirs
        np.savez_compressed(out / "frames.npz", index=fs.index, label=fs.label, snr_db=fs.snr_db,
                            predicted=res["predicted"].astype(np.int64), logits=res["logits"],
                            int_out=res["int_out"])
        sizes = int_list(args.bench_batch_sizes, "--bench-batch-sizes", 1) or []
        log(f"[{accel.kind}] throughput at batch sizes {sizes}")
        throughput = measure_throughput(accel, sizes, args.bench_repeats) if sizes else []
        log(f"[{accel.kind}] single-frame latency ({args.latency_repeats} repeats)")
        latency = measure_latency(accel, args.latency_repeats) if args.latency_repeats else None
        if accel.kind == "board" and args.energy_seconds > 0:
            log(f"[board] energy per frame ({args.energy_seconds:g} s at batch size {max(sizes or [args.batch_size])})")
            rails = args.power_rails.split(",") if args.power_rails else None
            energy = measure_energy(accel, max(sizes or [args.batch_size]), args.energy_seconds, rails)
        elif accel.kind == "board":
            energy = {"available": False, "reason": "not measured (--energy-seconds 0)"}
        else:
            energy = {"available": False, "reason": f"{accel.kind}: the emulator's power is not the accelerator's"}
        fclk = getattr(accel, "fclk_mhz_actual", None) or getattr(accel, "fclk_mhz", None)
    finally:
        if hasattr(accel, "close"):
            accel.close()
    results = {
        "format": RESULTS_FORMAT,
        "backend": accel.kind,
        "emulation": accel.kind != "board",
        "backend_info": backend_info,
        "model": io.name,
        "deployment": (read_json(meta / "deploy.json").get("name")
                       if (meta / "deploy.json").is_file() else None),
        "data": str(args.data),
        "frames": {"description": fs.description, "count": len(fs)},
        "accuracy_pass": {"seconds": pass_s, "frames_per_s": len(fs) / pass_s if pass_s > 0 else None,
                          "batch_size": args.batch_size, "accuracy": float((res["predicted"] == fs.label).mean()),
                          "note": "end to end: HDF5 read, quantisation, packing, accelerator, unpacking, host ops"},
        "throughput": throughput,
        "latency": latency,
        "energy": energy,
        "fclk_mhz": fclk,
        "simulation": ({"cycles": pass_cycles, "clock_mhz": accel.clock_mhz,
                        "frames_per_s_at_clock": len(fs) * accel.clock_mhz * 1e6 / pass_cycles,
                        "note": f"the accuracy pass's batches of {args.batch_size}, each streamed back to back and "
                                "drained; the last one padded to the batch size as on a board"}
                       if pass_cycles else None),
        "versions": _versions(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    log(f"[{accel.kind}] accuracy {results['accuracy_pass']['accuracy']:.4f} on {len(fs)} frames; results in {out}")
    return results


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m driver.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", required=True, help="deployment package (meta/, bitfile/, driver/)")
    ap.add_argument("--data", required=True, help="RadioML 2018 HDF5 file (or one of the same schema)")
    ap.add_argument("--out", required=True, help="results folder")
    ap.add_argument("--backend", choices=["board", "emulation", "rtlsim"], default="board",
                    help="board: the PYNQ overlay; emulation: finn-plus's Python execution of the build's "
                         "accelerator; rtlsim: its verilated RTL")
    ap.add_argument("--build", default=None, help="emulation: the build folder whose accelerator to run")
    ap.add_argument("--compile-python", default=None, help="emulation: Python of the compile environment")
    ap.add_argument("--compile-repo", default=None,
                    help="emulation: the repository whose compile/ the emulator worker runs (default: the one "
                         "this driver's code is in; a deployment package's copy of the driver has none)")
    ap.add_argument("--per-block", type=int, default=None, help="only the first K frames of each (class, SNR)")
    ap.add_argument("--snrs", default=None, help="only these SNRs (dB), comma-separated")
    ap.add_argument("--limit", type=int, default=None, help="at most this many frames")
    ap.add_argument("--batch-size", type=int, default=256, help="batch size of the accuracy pass")
    ap.add_argument("--block-frames", type=int, default=2048, help="frames read from the HDF5 file at a time")
    ap.add_argument("--bench-batch-sizes", default="1,16,256,1024", help="throughput test batch sizes ('' skips)")
    ap.add_argument("--bench-repeats", type=int, default=5)
    ap.add_argument("--latency-repeats", type=int, default=200)
    ap.add_argument("--energy-seconds", type=float, default=5.0, help="board: seconds of load per power reading")
    ap.add_argument("--power-rails", default=None, help="board: rails to sum (default: all with a power sensor)")
    ap.add_argument("--timeout-s", type=float, default=10.0, help="deadline for one batch (board DMA or emulator)")
    ap.add_argument("--quiet", action="store_true")
    return ap


@command
def main(argv=None) -> int:
    run(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

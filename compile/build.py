"""Command line: python -m compile.build {compile,bitstream,report,boards,steps} ...

  compile MODEL      run folder (runs/<name>/) or .onnx -> build folder hw/builds/<name>-<board>/
  bitstream MODEL    compile (unless --reuse), then finn-plus's builder where Vivado exists
  rtlsim MODEL|BUILD compile (unless BUILD is a finished build folder), then simulate the stitched
                     accelerator's RTL with Verilator: bit-exact check, FIFO sizing, measured cycles
  synth MODEL|BUILD  compile (unless BUILD is a finished build folder), then synthesize the accelerator's RTL
                     with Yosys for the board's FPGA family: LUT, LUTRAM, SRL, FF, CARRY, DSP, BRAM, URAM
                     counted, beside the estimate
  report BUILD_DIR   print a build's report (--json for scripts)
  boards             list the board definitions (hw/boards/*.yaml)
  steps              list the step names
Exit status: 0 ok, 1 a step, its verification or the RTL simulation failed, or the design misses what was
asked (its --target-fps, the resource budget or the board; the report is still written, and
--allow-over-budget accepts it), 2 usage (bad arguments, an unreadable model, a build folder of another
model), 3 tools missing (bitstream: Vivado; rtlsim: Verilator; synth: Yosys). Every failure is one line on stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from amc_cli import CommandError, RefusedInput, command
from amc_cli.inputs import read_json

from .boards import board_files, load_board
from .config import Budget, check_build_model, config_from_build, is_build_folder, make_config
from .steps import STEP_NAMES


def _positive(kind=float, what="a positive number"):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return v
    return parse


def _probability(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability in (0, 1]")
    return v


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="run folder (with model.onnx and io.json) or a .onnx file")
    p.add_argument("--board", default="zcu104", help="board name (hw/boards/<board>.yaml) or YAML file")
    p.add_argument("--clock-mhz", type=_positive(float, "a positive clock in MHz"), default=None,
                   help="target clock (default: the board's)")
    p.add_argument("--out", default=None, help="build folder (default hw/builds/<model>-<board>)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--folding", default=None, help="FINN folding JSON to apply")
    g.add_argument("--target-fps", type=_positive(float, "a positive number of frames per second"), default=None,
                   help="cheapest folding meeting this")
    p.add_argument("--folding-strategy", choices=["search", "finn"], default="search",
                   help="with --target-fps: our search (default) or FINN's SetFolding heuristic")
    p.add_argument("--budget", default=None,
                   help="resource budget fractions, e.g. lut=0.7,bram=0.8,uram=0.8,dsp=0.8 (default)")
    p.add_argument("--impl", action="append", default=[], metavar="OP=STYLE",
                   help="preferred implementation per op type, e.g. MVAU=hls (repeatable)")
    p.add_argument("--lutram-weights", action="store_true",
                   help="let the folding search keep shallow RTL MVAU weight memories in LUTs instead of BRAM")
    p.add_argument("--from-step", default=None, choices=STEP_NAMES,
                   help="restart at this step from the previous step's artefact in the build folder")
    p.add_argument("--to-step", default=None, choices=STEP_NAMES, help="stop after this step")
    p.add_argument("--verify-frames", type=_positive(int, "a positive whole number"), default=8)
    p.add_argument("--no-verify", action="store_true", help="skip per-step verification")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--allow-over-budget", action="store_true",
                   help="accept a design that misses --target-fps or exceeds the budget or the board (exit 0)")


#: options that shape a compile; given with a finished build folder, they would be silently ignored
COMPILE_OPTIONS = ("board", "clock_mhz", "out", "folding", "target_fps", "folding_strategy", "budget", "impl",
                   "lutram_weights", "from_step", "to_step", "verify_frames", "no_verify")


def _refuse_compile_options(a, parser: argparse.ArgumentParser, cfg) -> None:
    """rtlsim/synth on a build folder measure that build as it is: a compile option given with a value other
    than the build's would be ignored, so it is refused."""
    same_as_build = {
        "board": lambda v: v == cfg.board.name, "clock_mhz": lambda v: v == cfg.clock_mhz,
        "out": lambda v: Path(v).resolve() == cfg.out_dir.resolve(), "budget": lambda v: Budget.parse(v) == cfg.budget,
        "target_fps": lambda v: v == cfg.target_fps, "folding_strategy": lambda v: v == cfg.folding_strategy,
        "lutram_weights": lambda v: v == cfg.lutram_weights, "impl": lambda v: _impl_styles(v) == cfg.impl_style,
        "verify_frames": lambda v: v == cfg.verify_frames,
    }
    given = [o for o in COMPILE_OPTIONS
             if getattr(a, o) != parser.get_default(o) and not same_as_build.get(o, lambda v: False)(getattr(a, o))]
    if given:
        names = ", ".join("--" + o.replace("_", "-") for o in given)
        raise RefusedInput(f"{a.model} is a finished build folder: {names} apply when compiling, and would be ignored "
                           f"here. {a.cmd.capitalize()} it as it is (leave {names} out), or pass the model (run folder "
                           "or .onnx) with those options and a new --out")


def _report_is_current(ran: list[str] | None) -> bool:
    """Whether report.json describes this run's graph: the build made it now, started after it, or was reused."""
    if ran is None or "estimate_reports" in ran:
        return True
    return bool(ran) and STEP_NAMES.index(ran[0]) > STEP_NAMES.index("estimate_reports")


def _constraints_failed(cfg, a, ran: list[str] | None) -> bool:
    """After a compile: say so and return True when the design misses what was asked (not allowed)."""
    if not _report_is_current(ran):
        return False
    path = cfg.out_dir / "report.json"
    if not path.is_file():
        return False
    problems = read_json(path).get("problems") or []
    if not problems:
        return False
    if a.allow_over_budget:
        print(f"warning: {'; '.join(problems)} (accepted: --allow-over-budget)", file=sys.stderr)
        return False
    print(f"error: the design misses what was asked: {'; '.join(problems)}. The report is in {cfg.out_dir}; pass "
          "--allow-over-budget to accept it.", file=sys.stderr)
    return True


def _impl_styles(items: list[str]) -> dict[str, str]:
    impl = {}
    for item in items:
        op, _, style = item.partition("=")
        if style not in ("hls", "rtl"):
            raise ValueError(f"--impl {item!r}: expected OP=hls or OP=rtl")
        impl[op] = style
    return impl


def _config(a):
    impl = _impl_styles(a.impl)
    return make_config(
        a.model, board=a.board, out_dir=a.out, clock_mhz=a.clock_mhz,
        folding_file=a.folding, target_fps=a.target_fps, folding_strategy=a.folding_strategy,
        budget=Budget.parse(a.budget), impl_style=impl, lutram_weights=a.lutram_weights, verify=not a.no_verify,
        verify_frames=a.verify_frames, start_step=a.from_step, stop_step=a.to_step,
    )


def _print_report(out_dir: Path, as_json: bool) -> int:
    rep = Path(out_dir) / ("report.json" if as_json else "report.md")
    if not rep.is_file():
        raise RefusedInput(f"{out_dir}: no {rep.name} here (not a build folder, or the build stopped before "
                           "estimate_reports)")
    print(rep.read_text(), end="")
    return 0


def _measure(a, cfg, log, measure) -> dict | None:
    """Compile first unless MODEL is a finished build folder, then `measure(cfg)` (a simulation or a
    synthesis): its report section, or None where the compiled design already misses what was asked."""
    from .runner import run_build

    if not is_build_folder(a.model):
        log(f"compile {cfg.model_path} for {cfg.board.name} at {cfg.clock_mhz:g} MHz -> {cfg.out_dir}")
        result = run_build(cfg, log=log)
        if _constraints_failed(cfg, a, result["ran"]):
            return None
    try:
        return measure(cfg)
    except NotImplementedError as e:  # a layer the measurement has no model of (an HLS layer in synthesis)
        raise CommandError(str(e)) from e


def _rtlsim(a, cfg, log) -> int:
    from .rtlsim.accelerator import simulate_accelerator

    sec = _measure(a, cfg, log, lambda c: simulate_accelerator(
        c, frames=a.frames, size_fifos=not a.no_size_fifos, ready_prob=a.ready_prob, seed=a.seed,
        per_layer=a.per_layer, dsp=a.dsp, log=log))
    if sec is None:
        return 1
    if a.json:
        return _print_report(cfg.out_dir, True)
    log(f"RTL simulation ({sec['label']}): {sec['cycles_per_frame']:,.1f} cycles/frame "
        f"({sec['cycles_per_frame_vs_estimate']:.4f} x the estimate), {sec['frames_per_s']:,.0f} frames/s, "
        f"latency {sec['latency_cycles']:,} cycles, bit-exact on {sec['frames']} frames; report: "
        f"{cfg.out_dir / 'report.md'}")
    return 0


def _synth(a, cfg, log) -> int:
    from .synth import fit_by_synthesis, synthesize

    if a.by_layer and a.per_layer:
        raise RefusedInput("--by-layer already counts every layer (each synthesized alone); --per-layer adds a "
                           "whole-design synthesis: pass one of them")

    def measure(c):
        if a.fit:
            return fit_by_synthesis(c, rounds=a.fit, per_layer=a.per_layer, log=log, by_layer=a.by_layer)
        return synthesize(c, per_layer=a.per_layer, log=log, by_layer=a.by_layer)

    sec = _measure(a, cfg, log, measure)
    if sec is None:
        return 1
    if a.json:
        print(json.dumps(sec, indent=2))
    else:
        from .report import synth_table

        log("\n".join(synth_table(sec)))
        log(f"report: {cfg.out_dir / 'report.md'}")
    problems = sec.get("problems") or []
    if problems and not a.allow_over_budget:
        print(f"error: by synthesis the design misses what was asked: {'; '.join(problems)}. The report is in "
              f"{cfg.out_dir}; pass --allow-over-budget to accept it.", file=sys.stderr)
        return 1
    return 0


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m compile.build", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    _common(sub.add_parser("compile", help="QONNX -> FINN dataflow build folder"))
    pb = sub.add_parser("bitstream", help="full flow via finn-plus's builder (needs Vivado)")
    _common(pb)
    pb.add_argument("--reuse", action="store_true", help="use the existing build folder's artefacts")
    ps = sub.add_parser("rtlsim", help="RTL simulation of the stitched accelerator (Verilator)")
    parsers = {"rtlsim": ps}
    _common(ps)
    ps.add_argument("--frames", type=_positive(int, "a positive whole number"), default=8,
                    help="frames streamed back to back (the build's verification frames, in turn)")
    ps.add_argument("--no-size-fifos", action="store_true", help="skip FIFO sizing by simulation")
    ps.add_argument("--ready-prob", type=_probability, default=0.5,
                    help="output ready probability of the random back-pressure check (default 0.5)")
    ps.add_argument("--seed", type=int, default=0, help="seed of the random back-pressure")
    ps.add_argument("--per-layer", action="store_true",
                    help="first check every layer alone against FINN's Python model, at full rate and under "
                         "random back-pressure (FINN's per-node rtlsim)")
    ps.add_argument("--dsp", choices=["behavioural", "unisim"], default="behavioural",
                    help="MVAU_rtl's DSP slices: mvu.sv's behavioural model (default) or the DSP48E2 primitives "
                         "with Xilinx's unisim models (shared/vendor/xilinx-unisim, or AMC_UNISIM_DIR)")
    py = sub.add_parser("synth", help="synthesize the accelerator's RTL with Yosys (resources counted)")
    parsers["synth"] = py
    _common(py)
    py.add_argument("--per-layer", action="store_true",
                    help="also synthesize with every layer kept as a module of its own: counts per layer")
    py.add_argument("--by-layer", action="store_true",
                    help="synthesize each layer alone, one Yosys process each, for designs too large for one "
                         "(4 GiB): the total is the sum of the layers, not optimized across them")
    py.add_argument("--fit", type=_positive(int, "a positive whole number of rounds"), default=None, metavar="ROUNDS",
                    help="refold until the synthesized design fits the budget: each round searches under the budget "
                         "scaled by estimated / synthesized of the last folding (at most ROUNDS syntheses)")
    pr = sub.add_parser("report", help="print a build's report")
    pr.add_argument("build_dir")
    pr.add_argument("--json", action="store_true")
    sub.add_parser("boards", help="list board definitions")
    sub.add_parser("steps", help="list step names")
    a = ap.parse_args(argv)

    if a.cmd == "boards":
        for name in sorted(board_files()):
            b = load_board(name)
            print(f"{b.name:10s} {b.part:24s} {b.clock_mhz:5.0f} MHz  {b.description}")
        return 0
    if a.cmd == "steps":
        print("\n".join(f"{i + 1:02d} {n}" for i, n in enumerate(STEP_NAMES)))
        return 0
    if a.cmd == "report":
        return _print_report(Path(a.build_dir), a.json)

    from .runner import run_build

    try:
        reuse = a.cmd in ("rtlsim", "synth") and is_build_folder(a.model)
        cfg = config_from_build(a.model) if reuse else _config(a)
        if reuse:
            _refuse_compile_options(a, parsers[a.cmd], cfg)
        if a.cmd == "bitstream" and a.reuse:  # the build must be of this very model
            check_build_model(cfg.out_dir, cfg.model_path)
    except ValueError as e:  # the configuration's checks (options, board, folding and model files)
        if isinstance(e, CommandError):
            raise
        raise RefusedInput(str(e)) from e
    log = (lambda m: print(m, file=sys.stderr)) if a.json else print
    if a.cmd == "bitstream":
        from .vivado import check_tools

        check_tools(cfg)  # before spending minutes on the compile
    if a.cmd == "rtlsim":
        return _rtlsim(a, cfg, log)
    if a.cmd == "synth":
        return _synth(a, cfg, log)
    ran = None
    if a.cmd == "compile" or not getattr(a, "reuse", False):
        log(f"compile {cfg.model_path} for {cfg.board.name} at {cfg.clock_mhz:g} MHz -> {cfg.out_dir}")
        ran = run_build(cfg, log=log)["ran"]
    if a.cmd == "bitstream" and _constraints_failed(cfg, a, ran):
        return 1  # no hours of Vivado on a design that misses what was asked
    if a.cmd == "bitstream":
        from .vivado import run_bitstream

        try:
            run_bitstream(cfg, log=log)
        except subprocess.CalledProcessError as e:
            raise CommandError(f"finn-plus's build failed ({e}); see {cfg.out_dir / 'bitstream'}") from e
    if a.json:
        code = _print_report(cfg.out_dir, True) if _report_is_current(ran) else 0
        return 1 if a.cmd == "compile" and _constraints_failed(cfg, a, ran) else code
    if (cfg.out_dir / "report.md").is_file() and _report_is_current(ran):
        rep = read_json(cfg.out_dir / "report.json")
        t = rep["throughput"]
        log(f"estimate: {t['frames_per_s']:,.0f} frames/s ({t['iq_samples_per_s'] / 1e6:,.1f} M I/Q samples/s),"
            f" latency {rep['latency']['us']:,.1f} us; report: {cfg.out_dir / 'report.md'}")
    elif ran:
        log(f"stopped after {ran[-1]}: no estimate yet (estimate_reports makes it); artefacts in {cfg.out_dir / 'steps'}")
    return 1 if a.cmd == "compile" and _constraints_failed(cfg, a, ran) else 0


if __name__ == "__main__":
    sys.exit(main())

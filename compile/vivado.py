"""The rest of the flow, where Vivado exists: hand the folded accelerator to finn-plus's own builder.

This project's steps end with the estimate reports and the generated sources. IP generation (Vitis
HLS), FIFO sizing (rtlsim), stitched IP, synthesis/implementation, the PYNQ driver and the deployment
package are finn-plus's: we write a DataflowBuildConfig (bitstream/finn_flow.yaml) whose steps are
finn-plus's default steps from step_assign_ddr_weight_offsets on, and run its `finn build` CLI on the
artefact of our estimate_reports step (folded, bit widths minimised, already partitioned).

Two things of ours travel with it:
- the overlaid finn-rtllib (compile/rtllib.py): a finn-plus settings file (bitstream/finn_settings.yaml,
  passed as FINN_SETTINGS) points its `finn_rtllib` at the build's patched copy, so the bitstream is
  made from the same RTL that `make rtlsim` simulated;
- FIFO depths sized by `make rtlsim` (folding.json's inFIFODepths/outFIFODepths): they are applied to
  the handed-over model (bitstream/handoff.onnx), and finn-plus inserts its FIFOs with those depths
  without a sizing run of its own (auto_fifo_strategy force_minimal_fifos, which keeps the depths the
  layers ask for). Without sized depths finn-plus sizes the FIFOs itself, by simulation with xsim.

Without Vivado the flow stops before calling it, with a message that says what is missing; nothing
is faked.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from amc_cli import ToolMissing

from .config import BuildConfig

#: finn-plus steps after its estimate reports, as in its default_build_dataflow_steps.
HANDOFF_FROM = "step_assign_ddr_weight_offsets"
HANDOFF_ARTEFACT_STEP = "estimate_reports"
#: finn-plus's `finn` CLI with our RTL ops (compile/hwops: Pool_rtl) registered, in its workers too
FINN_CLI = Path(__file__).resolve().parent / "hwops" / "finn_cli.py"


class ToolsMissing(ToolMissing, RuntimeError):
    pass


def missing_tools(env=None) -> list[str]:
    """What the full flow needs and this machine lacks (empty list: all there)."""
    env = os.environ if env is None else env
    missing = []
    viv = env.get("XILINX_VIVADO")
    if not viv:
        missing.append("XILINX_VIVADO is not set (source Vivado's settings64.sh, or run in the Dockerfile's "
                       "image with Vivado mounted from the host)")
    elif not (Path(viv) / "bin" / "vivado").exists():
        missing.append(f"XILINX_VIVADO={viv} has no bin/vivado")
    hls = env.get("XILINX_HLS")
    if not hls:
        missing.append("XILINX_HLS is not set (Vitis HLS, needed for the HLS layers' IP generation)")
    elif not any((Path(p) / "bin" / "vitis_hls").exists()
                 for p in (hls, hls.replace("Vitis", "Vitis_HLS"))):
        missing.append(f"XILINX_HLS={hls} has no bin/vitis_hls")
    if shutil.which("finn", path=str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")) is None:
        missing.append("the finn-plus CLI `finn` is not on PATH (pip install --no-deps finn-plus==1.6.1)")
    return missing


def finn_default_tail() -> list[str]:
    from finn.builder.build_dataflow_config import default_build_dataflow_steps

    steps = list(default_build_dataflow_steps)
    return steps[steps.index(HANDOFF_FROM):]


FIFO_ATTRS = ("inFIFODepths", "outFIFODepths")


def sized_fifo_depths(cfg: BuildConfig) -> dict:
    """The FIFO depth attributes `make rtlsim` wrote into folding.json, per layer (empty if none)."""
    from .folding import load_folding

    if not cfg.folding_path.is_file():
        return {}
    fold = load_folding(cfg.folding_path)
    return {name: {a: v for a, v in attrs.items() if a in FIFO_ATTRS}
            for name, attrs in fold.items() if name != "Defaults" and any(a in FIFO_ATTRS for a in attrs)}


def apply_sized_fifos(cfg: BuildConfig, model) -> bool:
    """Give the model's layers the FIFO depths make rtlsim sized (folding.json), as the bitstream and the
    simulated deployment build them; False (model untouched) where none were sized."""
    from .folding import apply_folding
    from .hwops import register

    sized = sized_fifo_depths(cfg)
    if sized:
        register()  # the model holds our RTL layers (Pool_rtl, VVAU_rtl); this may run before any init_finn
        apply_folding(model, sized, strict=True)
    return bool(sized)


def flow_config(cfg: BuildConfig, out_dir: Path) -> dict:
    """A finn-plus DataflowBuildConfig (YAML-able) for the post-estimate flow on our artefact."""
    shell = {"vivado_zynq": "vivado_zynq", "vitis_alveo": "vitis_alveo"}[cfg.board.shell]
    fifo = {"auto_fifo_strategy": "force_minimal_fifos"} if sized_fifo_depths(cfg) else {}
    return {
        "output_dir": str(out_dir.resolve()),
        "synth_clk_period_ns": cfg.clock_period_ns,
        "board": cfg.board.finn_board,
        "fpga_part": cfg.board.part,
        "shell_flow_type": shell,
        "folding_config_file": str(cfg.folding_path.resolve()),
        "standalone_thresholds": cfg.standalone_thresholds,
        "save_intermediate_models": True,
        "steps": finn_default_tail(),
        "generate_outputs": ["estimate_reports", "stitched_ip", "rtlsim_performance", "bitfile",
                             "pynq_driver", "deployment_package"],
        **fifo,
    }


def write_settings(cfg: BuildConfig, d: Path) -> Path:
    """finn-plus's settings file for the flow: its finn_rtllib is the build's overlaid copy."""
    from .rtllib import overlaid_rtllib

    path = d / "finn_settings.yaml"
    rtllib = overlaid_rtllib(cfg.out_dir / "rtllib").resolve()
    path.write_text(yaml.safe_dump({"finn_rtllib": str(rtllib)}))
    return path


def write_handoff(cfg: BuildConfig, model_path: Path, d: Path) -> Path:
    """The artefact finn-plus continues from, with the FIFO depths make rtlsim sized (if any)."""
    from qonnx.core.modelwrapper import ModelWrapper

    if not sized_fifo_depths(cfg):
        return model_path
    model = ModelWrapper(str(model_path))
    apply_sized_fifos(cfg, model)
    out = d / "handoff.onnx"
    model.save(str(out))
    return out


def write_flow_config(cfg: BuildConfig) -> tuple[Path, Path]:
    """bitstream/finn_flow.yaml (validated by finn-plus's own DataflowBuildConfig) and the model."""
    from finn.builder.build_dataflow_config import DataflowBuildConfig

    from .runner import artefact_path

    model = artefact_path(cfg, HANDOFF_ARTEFACT_STEP)
    if not model.is_file():
        raise FileNotFoundError(f"{model} is missing: run the compile first (make compile)")
    d = cfg.out_dir / "bitstream"
    d.mkdir(parents=True, exist_ok=True)
    path = d / "finn_flow.yaml"
    path.write_text(yaml.safe_dump(flow_config(cfg, d / "finn_output"), sort_keys=False))
    DataflowBuildConfig.construct_from(path)  # raises on keys finn-plus does not know
    write_settings(cfg, d)
    return path, write_handoff(cfg, model, d)


def check_tools(cfg: BuildConfig) -> None:
    """Raise ToolsMissing (saying what is missing) unless the full flow can run here. Where the
    compile artefacts exist, finn-plus's flow config is written anyway, ready for a Vivado machine."""
    missing = missing_tools()
    if not missing:
        return
    ready = ""
    try:
        flow, model = write_flow_config(cfg)
        ready = f"\nThe compile artefacts are ready for it: {model}\nand finn-plus's flow config: {flow}"
    except FileNotFoundError:
        ready = "\n(no compile artefacts yet: `make compile` produces them without Vivado)"
    raise ToolsMissing(
        "bitstream: the full flow (HLS IP generation, FIFO sizing, stitched IP, synthesis, bitfile, "
        "driver, deployment package) needs Vivado and Vitis HLS; on this machine:\n  - "
        + "\n  - ".join(missing)
        + ready
        + "\nWhere the tools exist: make bitstream (or the Dockerfile's image, Vivado mounted from the host)."
    )


def run_bitstream(cfg: BuildConfig, log=print) -> Path:
    check_tools(cfg)
    flow, model = write_flow_config(cfg)
    cmd = [sys.executable, str(FINN_CLI), "build", str(flow), str(model), "--batch", "--accept-defaults"]
    env = dict(os.environ, FINN_SETTINGS=str((flow.parent / "finn_settings.yaml").resolve()))
    log("running: FINN_SETTINGS=" + env["FINN_SETTINGS"] + " " + " ".join(cmd))
    subprocess.run(cmd, check=True, cwd=str(cfg.out_dir), env=env)
    out = cfg.out_dir / "bitstream" / "finn_output"
    log(f"finn-plus build finished: {out} (bitfile/, driver/, deploy/)")
    return out

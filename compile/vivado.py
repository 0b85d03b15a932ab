"""The rest of the flow, where Vivado exists: hand the folded accelerator to finn-plus's own builder.

This project's steps end with the estimate reports and the generated sources. IP generation (Vitis
HLS), FIFO sizing (rtlsim), stitched IP, synthesis/implementation, the PYNQ driver and the deployment
package are finn-plus's: we write a DataflowBuildConfig (bitstream/finn_flow.yaml) whose steps are
finn-plus's default steps from step_assign_ddr_weight_offsets on, and run its `finn build` CLI on the
artefact of our estimate_reports step (folded, bit widths minimised, already partitioned).

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

from .config import BuildConfig

#: finn-plus steps after its estimate reports, as in its default_build_dataflow_steps.
HANDOFF_FROM = "step_assign_ddr_weight_offsets"
HANDOFF_ARTEFACT_STEP = "estimate_reports"


class ToolsMissing(RuntimeError):
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


def flow_config(cfg: BuildConfig, out_dir: Path) -> dict:
    """A finn-plus DataflowBuildConfig (YAML-able) for the post-estimate flow on our artefact."""
    shell = {"vivado_zynq": "vivado_zynq", "vitis_alveo": "vitis_alveo"}[cfg.board.shell]
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
    }


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
    return path, model


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
    cmd = ["finn", "build", str(flow), str(model), "--batch", "--accept-defaults"]
    log("running: " + " ".join(cmd))
    subprocess.run(cmd, check=True, cwd=str(cfg.out_dir))
    out = cfg.out_dir / "bitstream" / "finn_output"
    log(f"finn-plus build finished: {out} (bitfile/, driver/, deploy/)")
    return out

"""The board backend: finn-plus-driver's DMA overlay on pynq, with deadlines, and the board's power rails.

`open_board_overlay` reads the driver settings finn-plus wrote next to the bitfile (settings.json,
`driver_information`: driver type, platform, io_shape_dict, runtime/external weights) and loads the
bitfile through finn-plus-driver's `FINNDMAOverlay`, subclassed only to bound its waits: the stock
`wait_until_finished` polls the output DMA's status register until it reports done, forever if the
accelerator hangs; here it gives up after `timeout_s` with an AcceleratorTimeout.

`PowerSampler` reads the power sensors pynq exposes (`pynq.get_rails()`, PMBus/libsensors: the ZCU104
has them) on a background thread while a benchmark runs.

pynq and finn_plus_driver.overlays are imported only inside these functions: they exist on the board.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from amc_cli import AcceleratorFailed
from amc_cli.inputs import read_json

from .meta import BitfileMissing, MetadataError

KIND = "board"


class AcceleratorTimeout(AcceleratorFailed, RuntimeError):
    """The accelerator did not finish a batch within the deadline."""


def find_bitfile(where: Path) -> tuple[Path, Path]:
    """(bitfile, settings.json) in a deployment package or a finn-plus output folder; BitfileMissing if absent."""
    where = Path(where)
    cands = [where / "bitfile" / "finn-accel.bit", where / "deploy" / "bitfile" / "finn-accel.bit",
             where / "finn-accel.bit"]
    bit = next((c for c in cands if c.is_file()), None)
    if bit is None:
        raise BitfileMissing(f"no bitfile (finn-accel.bit) under {where}: the accelerator has not been synthesised. "
                             "`make bitstream MODEL=...` runs finn-plus's flow where Vivado is (see docs/artefacts.md, "
                             "'Build folder'); without a bitfile only the emulated deployment can run")
    hwh = bit.with_suffix(".hwh")
    if not hwh.is_file():
        raise BitfileMissing(f"{bit} has no hardware handoff next to it ({hwh.name}); pynq needs both")
    settings = next((c for c in (bit.parent.parent / "driver" / "settings.json", where / "driver" / "settings.json",
                                 where / "settings.json") if c.is_file()), None)
    if settings is None:
        raise MetadataError(f"no settings.json (finn-plus's driver settings) next to {bit}: expected "
                            f"{bit.parent.parent / 'driver' / 'settings.json'}")
    return bit, settings


def driver_settings(settings_path: Path) -> dict:
    info = read_json(Path(settings_path)).get("driver_information")
    if not info or "io_shape_dict" not in info:
        raise MetadataError(f"{settings_path}: no driver_information.io_shape_dict (not finn-plus's settings.json?)")
    if info.get("driver_type", "FINNDMAOverlay") != "FINNDMAOverlay":
        raise MetadataError(f"{settings_path}: driver type {info.get('driver_type')}; this driver runs "
                            "FINNDMAOverlay builds (no instrumentation builds)")
    return info


def _timed_overlay_class():
    from finn_plus_driver.overlays.dma import FINNDMAOverlay

    class TimedDMAOverlay(FINNDMAOverlay):
        """FINNDMAOverlay whose waits end: AcceleratorTimeout after `timeout_s`."""

        kind = KIND
        timeout_s = 10.0

        def wait_until_finished(self):
            deadline = time.monotonic() + self.timeout_s
            if self.platform == "zynq-iodma":
                for o in range(self.num_outputs):
                    while self.odma[o].read(0x00) & 0x2 == 0:
                        if time.monotonic() > deadline:
                            raise AcceleratorTimeout(
                                f"output DMA {o} did not finish within {self.timeout_s:g} s (batch size "
                                f"{self.batch_size}): the accelerator hangs or the bitfile does not match "
                                "settings.json; reload the bitfile")
            else:  # alveo: pynq's own DMA handles wait (no register to poll here)
                super().wait_until_finished()
                return

        def execute_on_buffers(self, asynch=False, batch_size=None):
            if self.platform == "zynq-iodma":
                # the stock method asserts the output DMA is idle; say what that means
                for o in range(self.num_outputs):
                    if self.odma[o].read(0x00) & 0x4 == 0:
                        raise AcceleratorTimeout(f"output DMA {o} is still busy from an earlier batch that never "
                                                 "finished; reload the bitfile")
            return super().execute_on_buffers(asynch=asynch, batch_size=batch_size)

        def close(self):
            for bufs in (getattr(self, "ibuf_packed_device", None) or [], getattr(self, "obuf_packed_device", None) or []):
                for b in bufs:
                    try:
                        b.freebuffer()
                    except Exception:
                        pass

    return TimedDMAOverlay


def open_board_overlay(bitfile: Path, settings_path: Path, batch_size: int = 1, timeout_s: float = 10.0,
                       download: bool = True):
    """Load the bitfile and return the overlay (FINNDMAOverlay interface, bounded waits)."""
    info = driver_settings(settings_path)
    kwargs = {k: v for k, v in info.items() if k not in ("driver_type",)}
    sdir = Path(settings_path).resolve().parent
    kwargs.setdefault("runtime_weight_dir", str(sdir / "runtime_weights") + os.sep)
    kwargs.setdefault("mlo_weight_dir", str(sdir / "mlo_weights") + os.sep)
    kwargs["batch_size"] = int(batch_size)
    cls = _timed_overlay_class()
    cls.timeout_s = float(timeout_s)
    return cls(str(bitfile), download=download, **kwargs)


class PowerSampler:
    """Samples the power sensors of the board's rails (pynq.get_rails()) on a thread.

    `rails`: names to sum (None: every rail with a power sensor). Use as a context manager around the
    measured work; `mean_w` is the mean summed power over the samples taken."""

    def __init__(self, rails: list | None = None, interval_s: float = 0.05, get_rails=None):
        if get_rails is None:
            import pynq

            get_rails = pynq.get_rails
        all_rails = get_rails()
        self.sensors = {name: r.power for name, r in all_rails.items()
                        if getattr(r, "power", None) is not None and (rails is None or name in rails)}
        if rails is not None and set(rails) - set(self.sensors):
            raise MetadataError(f"power rails {sorted(set(rails) - set(self.sensors))} not found; the board has "
                                f"{sorted(n for n, r in all_rails.items() if getattr(r, 'power', None) is not None)}")
        self.interval_s = interval_s
        self.samples: list = []
        self._stop = threading.Event()
        self._thread = None

    @property
    def available(self) -> bool:
        return bool(self.sensors)

    def read(self) -> dict:
        return {n: float(s.value) for n, s in self.sensors.items()}

    def _loop(self):
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.read()))
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self.samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.samples.append((time.monotonic(), self.read()))

    def mean_w(self) -> float | None:
        if not self.samples:
            return None
        return float(sum(sum(v.values()) for _, v in self.samples) / len(self.samples))

    def per_rail_mean_w(self) -> dict:
        if not self.samples:
            return {}
        return {n: float(sum(v[n] for _, v in self.samples) / len(self.samples)) for n in self.sensors}

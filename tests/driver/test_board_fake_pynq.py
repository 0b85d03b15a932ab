"""The board path (finn-plus-driver's FINNDMAOverlay with bounded waits, power sampling) on a fake pynq.

pynq exists only on a board. Here a fake `pynq` module provides Overlay (with input/output DMA
register files), allocate (numpy buffers with device addresses) and Clocks; the fake DMA engines
compute with the emulator, so the real FINNDMAOverlay code (register programming, packing, buffers)
runs end to end, and a fake that never finishes checks that no wait is endless.
"""
import json
import sys
import time
import types

import numpy as np
import pytest

from conftest import FIXTURES
from driver.frontend import Classifier
from driver.meta import ModelIO


class FakeBuffer(np.ndarray):
    def flush(self):
        pass

    def invalidate(self):
        pass

    def freebuffer(self):
        pass


class FakeBoard:
    """Memory and two DMA engines (FINN IODMA register map: 0x00 ctrl, 0x10/0x14 address, 0x1C count)."""

    def __init__(self, compute, hang=False):
        self.memory, self.next_addr, self.compute, self.hang = {}, 0x1000_0000, compute, hang
        self.idma, self.odma = FakeDMA(self, "in"), FakeDMA(self, "out")

    def allocate(self, shape, dtype=np.uint8, cacheable=True, target=None):
        buf = np.zeros(shape, dtype).view(FakeBuffer)
        buf.device_address = self.next_addr
        self.memory[self.next_addr] = buf
        self.next_addr += 0x100_0000
        return buf


class FakeDMA:
    def __init__(self, board, role):
        self.board, self.role, self.regs, self.status = board, role, {}, 0x4  # idle

    def read(self, off):
        if off == 0x00:
            s = self.status
            self.status &= ~0x2  # ap_done clears on read
            return s
        return self.regs.get(off, 0)

    def write(self, off, value):
        self.regs[off] = value
        if off == 0x00 and value == 1:
            self.status = 0x1  # started, not idle
            if self.role == "in":
                self.board.run()

    def address(self):
        return self.regs[0x10] | (self.regs[0x14] << 32)


def _run(board):
    odma = board.odma
    if board.hang:
        return  # the output DMA never reports done
    n = board.idma.regs[0x1C]
    ibuf, obuf = board.memory[board.idma.address()], board.memory[odma.address()]
    obuf[:n] = board.compute(np.asarray(ibuf[:n]))
    board.idma.status = odma.status = 0x6  # done + idle


FakeBoard.run = _run


@pytest.fixture
def fake_pynq(monkeypatch):
    def install(board):
        pynq = types.ModuleType("pynq")
        ps = types.ModuleType("pynq.ps")

        class Overlay:
            def __init__(self, bitfile_name, download=True, device=None):
                self.bitfile_name, self.device, self.ip_dict = bitfile_name, device, {}
                self.idma0, self.odma0 = board.idma, board.odma

        class Clocks:
            fclk0_mhz = 100.0

        class Bitstream:  # imported by finn-plus-driver's instrumentation overlays, unused here
            pass

        pynq.Overlay, pynq.allocate, pynq.ps, ps.Clocks = Overlay, board.allocate, ps, Clocks
        pynq.Bitstream = Bitstream
        monkeypatch.setitem(sys.modules, "pynq", pynq)
        monkeypatch.setitem(sys.modules, "pynq.ps", ps)
        for m in [m for m in sys.modules if m.startswith("finn_plus_driver.overlays")]:
            monkeypatch.delitem(sys.modules, m)
    return install


def _package(tmp_path, emulator):
    """A finn-plus output folder as Vivado would leave it: bitfile, hwh, driver/settings.json."""
    (tmp_path / "bitfile").mkdir()
    (tmp_path / "bitfile" / "finn-accel.bit").write_bytes(b"\0")
    (tmp_path / "bitfile" / "finn-accel.hwh").write_text("<not xml")
    (tmp_path / "driver").mkdir()
    isd = {k: ([f"DataType['{x.name}']" for x in v] if k in ("idt", "odt") else v)
           for k, v in emulator.io_shape_dict.items()}
    isd.update(idma_names=["idma0"], odma_names=["odma0"], number_of_external_weights=0,
               external_weights_input_shapes={})
    (tmp_path / "driver" / "settings.json").write_text(json.dumps({"driver_information": {
        "driver_type": "FINNDMAOverlay", "platform": "zynq-iodma", "io_shape_dict": isd, "fclk_mhz": 250.0,
        "runtime_weights": False, "external_weights": False}}))
    return tmp_path


def _emulated_dma(emulator):
    def compute(packed_in):
        emulator._worker.send_execute(packed_in)
        out, _ = emulator._worker.receive(60)
        return out
    return compute


def test_board_overlay_runs_the_real_finn_plus_driver_path(fake_pynq, emulator, tiny_build, tmp_path):
    from driver.board import find_bitfile, open_board_overlay

    fake_pynq(FakeBoard(_emulated_dma(emulator)))
    bit, settings = find_bitfile(_package(tmp_path, emulator))
    ov = open_board_overlay(bit, settings, batch_size=3, timeout_s=30)
    assert type(ov).__mro__[1].__name__ == "FINNDMAOverlay" and ov.kind == "board"
    ref = np.load(tiny_build / "verify" / "reference.npz")
    golden = np.load(tiny_build / "verify" / "golden_partition.npz")["int_out"]
    io = ModelIO.load(tiny_build / "accelerator.json", FIXTURES / "tiny_vgg" / "io.json")
    out = Classifier(io, ov).run_codes(io.codes(ref["frames"]))
    assert np.array_equal(out.reshape(len(out), -1), golden)
    res = ov.throughput_test()
    assert res["batch_size"] == 3 and res["throughput[images/s]"] > 0
    ov.close()


def test_a_hanging_accelerator_times_out(fake_pynq, emulator, tmp_path):
    from driver.board import AcceleratorTimeout, find_bitfile, open_board_overlay

    fake_pynq(FakeBoard(None, hang=True))
    ov = open_board_overlay(*find_bitfile(_package(tmp_path, emulator)), batch_size=1, timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(AcceleratorTimeout, match="did not finish within 0.5 s"):
        ov.execute(np.zeros(ov.ishape_normal(), np.float32))
    assert time.monotonic() - t0 < 5
    with pytest.raises(AcceleratorTimeout, match="still busy"):
        ov.execute_on_buffers()


def test_energy_per_frame_from_power_rails(emulator):
    from driver.board import PowerSampler
    from driver.run import measure_energy

    class Sensor:
        def __init__(self, watts):
            self.watts = watts

        @property
        def value(self):
            return self.watts[0]

    load = [1.0]
    rails = {"VCCINT": types.SimpleNamespace(power=Sensor(load)), "12V": types.SimpleNamespace(power=None),
             "VCCBRAM": types.SimpleNamespace(power=Sensor([0.5]))}

    class Accel:
        batch_size = 1

        def execute_on_buffers(self):
            load[0] = 3.0  # the accelerator draws 2 W more while running
            time.sleep(0.01)

    e = measure_energy(Accel(), 4, 0.3, rails=None, sampler_factory=lambda r: PowerSampler(r, 0.01, lambda: rails))
    assert e["available"] and e["rails"] == ["VCCBRAM", "VCCINT"]
    assert e["idle_w"] == pytest.approx(1.5) and e["active_w"] > 3.0
    assert e["j_per_frame_total"] == pytest.approx(e["active_w"] * e["seconds"] / e["frames"])
    none = measure_energy(Accel(), 4, 0.1, sampler_factory=lambda r: PowerSampler(r, 0.01, lambda: {}))
    assert none["available"] is False and "no rail" in none["reason"]

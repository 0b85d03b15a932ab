"""The emulation backend: FINNDMAOverlay's interface, bit-exact with the build's golden output."""
import ast
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, compile_python
from driver.emulation import EmulatedOverlay, EmulatorError, WorkerDied, WorkerTimeout
from driver.frontend import Classifier
from driver.meta import MetadataError, ModelIO


def _golden(build):
    ref = np.load(build / "verify" / "reference.npz")
    return ref, np.load(build / "verify" / "golden_partition.npz")["int_out"]


def test_io_shape_dict_is_finn_plus_drivers_and_describes_the_build(emulator, tiny_build):
    isd = emulator.io_shape_dict
    assert isd["idt"][0].name == "INT8"
    assert tuple(isd["ishape_normal"][0]) == (1, 1024, 1, 2)
    assert tuple(isd["ishape_packed"][0])[-1] * 8 >= isd["idt"][0].bitwidth() * isd["ishape_folded"][0][-1]
    ModelIO.load(tiny_build / "accelerator.json").check_io_shape_dict(isd, "emulator")
    assert Path(emulator.artefact).name == "14_hw_codegen.onnx"


@pytest.mark.parametrize("batch", [1, 3])
def test_execute_is_bit_exact_with_the_golden_accelerator_output(emulator, tiny_build, batch):
    ref, golden = _golden(tiny_build)
    io = ModelIO.load(tiny_build / "accelerator.json", FIXTURES / "tiny_vgg" / "io.json")
    emulator.batch_size = batch  # 4 frames: batch 3 leaves a padded partial batch
    out = Classifier(io, emulator).run_codes(io.codes(ref["frames"]))
    assert np.array_equal(out.reshape(len(out), -1), golden)


def test_asynchronous_execution_and_the_buffers(emulator, tiny_build):
    ref, golden = _golden(tiny_build)
    io = ModelIO.load(tiny_build / "accelerator.json")
    emulator.batch_size = 4
    x = io.accelerator_input(ref["codes"])
    emulator.copy_input_data_to_device(emulator.pack_input(emulator.fold_input(x)))
    emulator.execute_on_buffers(asynch=True)
    with pytest.raises(EmulatorError, match="still running"):
        emulator.execute_on_buffers()
    emulator.wait_until_finished()
    emulator.copy_output_data_from_device(emulator.obuf_packed[0])
    out = emulator.unfold_output(emulator.unpack_output(emulator.obuf_packed[0]))
    assert np.array_equal(out.reshape(4, -1), golden)
    emulator.execute_on_buffers(batch_size=2)  # a shorter batch on the same buffers
    with pytest.raises(MetadataError, match="takes"):
        emulator.execute(np.zeros((3, 1024, 1, 2), np.float32))


def test_throughput_test_reports_finn_keys_and_says_emulated(emulator):
    emulator.batch_size = 2
    res = emulator.throughput_test()
    for k in ("runtime[ms]", "throughput[images/s]", "DRAM_in_bandwidth[MB/s]", "batch_size", "pack_input[ms]",
              "unpack_output[ms]"):
        assert k in res
    assert res["emulated"] is True and res["batch_size"] == 2 and res["throughput[images/s]"] > 0


def test_same_interface_as_finn_plus_drivers_dma_overlay(emulator):
    """Every public method and property of FINNDMAOverlay that the driver uses exists here (read from
    the installed finn-plus-driver's source: importing it needs pynq)."""
    import finn_plus_driver

    src = Path(finn_plus_driver.__file__).parent / "overlays" / "dma.py"
    cls = next(n for n in ast.walk(ast.parse(src.read_text())) if isinstance(n, ast.ClassDef) and n.name == "FINNDMAOverlay")
    names = {f.name for f in cls.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")}
    used = {"idt", "odt", "ishape_normal", "oshape_normal", "ishape_folded", "oshape_folded", "ishape_packed",
            "oshape_packed", "batch_size", "io_shape_dict", "fold_input", "pack_input", "unpack_output",
            "unfold_output", "copy_input_data_to_device", "copy_output_data_from_device", "execute_on_buffers",
            "wait_until_finished", "execute", "throughput_test", "num_inputs", "num_outputs"}
    assert used <= names, used - names
    missing = [n for n in used if not hasattr(emulator, n)]
    assert not missing


def test_a_worker_that_dies_is_reported_with_its_last_words(tiny_build):
    ov = EmulatedOverlay(tiny_build, batch_size=1, compile_python=compile_python(), timeout_s=60)
    try:
        os.kill(ov._worker.proc.pid, signal.SIGKILL)
        ov._worker.proc.wait(timeout=10)
        with pytest.raises(WorkerDied, match="not running|gone|died"):
            ov.execute(np.zeros((1, 1024, 1, 2), np.float32))
    finally:
        ov.close()


def test_a_worker_that_does_not_answer_is_stopped(tiny_build):
    ov = EmulatedOverlay(tiny_build, batch_size=1, compile_python=compile_python(), timeout_s=60)
    try:
        os.kill(ov._worker.proc.pid, signal.SIGSTOP)  # alive, silent
        ov.timeout_s = 1.0
        t0 = time.monotonic()
        with pytest.raises(WorkerTimeout, match="did not answer"):
            ov.execute(np.zeros((1, 1024, 1, 2), np.float32))
        assert time.monotonic() - t0 < 10
        assert ov._worker.proc.poll() is not None  # killed, not left behind
    finally:
        ov.close()


def test_startup_errors_are_clear(tiny_build, tmp_path):
    with pytest.raises(EmulatorError, match="does not exist"):
        EmulatedOverlay(tiny_build, compile_python=str(tmp_path / "no-python"))
    with pytest.raises(EmulatorError, match="make compile"):
        EmulatedOverlay(tmp_path, compile_python=compile_python())
    (tmp_path / "accelerator.json").write_text("{}")  # a build folder without steps/
    with pytest.raises(EmulatorError, match="no accelerator artefact"):
        EmulatedOverlay(tmp_path, compile_python=compile_python())

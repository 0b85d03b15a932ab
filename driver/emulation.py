"""Emulation backend: the interface of finn-plus-driver's DMA overlay, with the accelerator in software.

`EmulatedOverlay` has what the RadioML front end and the benchmarks use of `FINNDMAOverlay`
(batch_size, idt/odt, normal/folded/packed shapes, fold_input, pack_input, unpack_output,
unfold_output, copy_input_data_to_device, copy_output_data_from_device, execute_on_buffers (also
asynchronous), wait_until_finished, execute, throughput_test) and packs and unpacks with the same
finn-plus-driver functions and flags. Where the board's DMA engines read and write device buffers,
it hands the packed input buffer to a worker process (`python -m compile.emulate <build>`, run by the
compile environment's Python, which has finn-plus) and takes the packed output buffer back.

Two workers stand behind it (`backend`): "python", finn-plus's Python execution of the accelerator's
layers (kind "emulation"), and "rtlsim", the verilated RTL of the stitched accelerator (kind
"rtlsim"), which also says how many clock cycles each batch took: `throughput_test` then gives the
throughput those cycles mean at the build's clock, beside the simulator's own wall-clock speed.

Everything it measures is the emulator's: `throughput_test` says `"emulated": true`, and no figure
from here is a hardware figure (the RTL simulation's cycles are the logic's, without DMA shell or
timing closure).
"""
from __future__ import annotations

import io
import json
import os
import select
import subprocess
import time
from pathlib import Path

import numpy as np

from amc_cli import AcceleratorFailed
from amc_cli.paths import REPO_ROOT

from .meta import MetadataError

PROTOCOL = "amc-fpga-emulator/1"
KIND = "emulation"
#: worker backend -> the overlay's kind (what results and reports call it)
BACKENDS = {"python": KIND, "rtlsim": "rtlsim"}


class EmulatorError(AcceleratorFailed, RuntimeError):
    """The emulator worker failed to start, answered with an error, died or timed out."""


class WorkerDied(EmulatorError):
    pass


class WorkerTimeout(EmulatorError):
    pass


def default_compile_python(repo: Path | None = None) -> str:
    """$AMC_COMPILE_PYTHON, else the project's .venv/bin/python (the model/compile environment)."""
    env = os.environ.get("AMC_COMPILE_PYTHON")
    if env:
        return env
    repo = repo or REPO_ROOT
    return str(repo / ".venv" / "bin" / "python")


def _dt(name):
    from qonnx.core.datatype import DataType

    s = str(name)
    if "[" in s:
        s = s[s.index("[") + 1: s.index("]")].strip("'\"")
    return DataType[s]


class _Worker:
    """The child process and its framed pipe protocol (JSON line, then optionally one .npy array)."""

    def __init__(self, build_dir: Path, python: str, start_timeout_s: float, repo: Path, backend: str = "python"):
        self.build_dir = Path(build_dir)
        if not Path(python).exists():
            raise EmulatorError(f"the compile environment's Python {python} does not exist: create it with "
                                "`make setup` (or point AMC_COMPILE_PYTHON / --compile-python at one with finn-plus)")
        if not (self.build_dir / "accelerator.json").is_file():
            raise EmulatorError(f"{self.build_dir} is not a build folder (no accelerator.json): run make compile")
        self.stderr_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"amc-emulator-{os.getpid()}-{id(self)}.log"
        self._stderr = open(self.stderr_path, "w+b")
        env = dict(os.environ)
        env["PYTHONPATH"] = str(repo) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.cmd = [python, "-m", "compile.emulate", str(self.build_dir.resolve()), "--backend", backend]
        try:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr, cwd=str(repo), env=env)
        except OSError as e:
            raise EmulatorError(f"cannot start the emulator ({' '.join(self.cmd)}): {e}") from e
        self._buf = b""
        try:
            hello = self._read_header(start_timeout_s, "starting")
        except BaseException:
            self.kill()
            raise
        if not hello.get("ready"):
            self.close()
            raise EmulatorError(f"the emulator could not load {self.build_dir}: {hello.get('error')}")
        if hello.get("format") != PROTOCOL:
            self.close()
            raise EmulatorError(f"emulator speaks {hello.get('format')!r}, expected {PROTOCOL!r}")
        self.hello = hello

    # ---- framing ---------------------------------------------------------------------------
    def stderr_tail(self, n: int = 2000) -> str:
        try:
            self._stderr.flush()
            data = self.stderr_path.read_bytes()
        except OSError:
            return ""
        return data[-n:].decode(errors="replace").strip()

    def _fill(self, deadline: float, what: str) -> None:
        fd = self.proc.stdout.fileno()
        left = deadline - time.monotonic()
        if left <= 0:
            self._timeout(what)
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            self._timeout(what)
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            code = self.proc.wait(timeout=5)
            raise WorkerDied(f"the emulator worker died while {what} (exit status {code}); its last words:\n"
                             f"{self.stderr_tail() or '(nothing on stderr)'}")
        self._buf += chunk

    def _timeout(self, what: str):
        self.kill()
        raise WorkerTimeout(f"the emulator worker did not answer in time while {what}; it was stopped. "
                            f"stderr:\n{self.stderr_tail() or '(nothing)'}")

    def _read_exact(self, n: int, deadline: float, what: str) -> bytes:
        while len(self._buf) < n:
            self._fill(deadline, what)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _read_header(self, timeout_s: float, what: str) -> dict:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buf:
            self._fill(deadline, what)
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError as e:
            raise EmulatorError(f"emulator sent a garbled header while {what}: {line[:200]!r}") from e

    def _read_array(self, nbytes: int, timeout_s: float, what: str) -> np.ndarray:
        blob = self._read_exact(int(nbytes), time.monotonic() + timeout_s, what)
        return np.lib.format.read_array(io.BytesIO(blob), allow_pickle=False)

    # ---- requests --------------------------------------------------------------------------
    def send_execute(self, packed: np.ndarray) -> None:
        if self.proc.poll() is not None:
            raise WorkerDied(f"the emulator worker is not running (exit status {self.proc.returncode}); stderr:\n"
                             f"{self.stderr_tail() or '(nothing)'}")
        try:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(packed), allow_pickle=False)
            blob = buf.getvalue()
            head = {"op": "execute", "batch": int(packed.shape[0]), "nbytes": len(blob)}
            self.proc.stdin.write((json.dumps(head) + "\n").encode() + blob)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            code = self.proc.poll()
            raise WorkerDied(f"the emulator worker is gone ({e}; exit status {code}); stderr:\n"
                             f"{self.stderr_tail() or '(nothing)'}") from e

    def receive(self, timeout_s: float) -> tuple[np.ndarray, dict]:
        head = self._read_header(timeout_s, "executing a batch")
        if not head.get("ok"):
            raise EmulatorError(f"the emulator refused the batch: {head.get('error')}")
        return self._read_array(head["nbytes"], timeout_s, "sending the output buffer"), head

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"op": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._stderr.close()
        try:
            self.stderr_path.unlink()
        except OSError:
            pass


class EmulatedOverlay:
    """Drop-in for finn_plus_driver's FINNDMAOverlay where there is no board (see module docstring)."""

    kind = KIND

    def __init__(self, build_dir, batch_size: int = 1, compile_python: str | None = None,
                 timeout_s: float = 600.0, start_timeout_s: float = 300.0, io_shape_dict: dict | None = None,
                 backend: str = "python", repo: str | Path | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"emulation backend {backend!r}: expected one of {sorted(BACKENDS)}")
        repo = Path(repo).resolve() if repo else REPO_ROOT
        if not (repo / "compile" / "emulate.py").is_file():
            raise EmulatorError(f"{repo} has no compile/emulate.py: the emulator worker needs the repository "
                                "(pass --compile-repo <repository>)")
        self.build_dir = Path(build_dir)
        self.kind = BACKENDS[backend]
        self.compile_python = compile_python or default_compile_python(repo)
        self.timeout_s = float(timeout_s)
        self._worker = _Worker(self.build_dir, self.compile_python, start_timeout_s, repo, backend)
        isd = dict(io_shape_dict or self._worker.hello["io_shape_dict"])
        isd["idt"] = [_dt(x) for x in isd["idt"]]
        isd["odt"] = [_dt(x) for x in isd["odt"]]
        self.io_shape_dict = isd
        self.artefact = self._worker.hello["artefact"]
        self.platform = "emulation"
        self.fclk_mhz = None
        self.emulator_seconds = 0.0  # time the worker spent executing (excludes IPC)
        self.worker_info = self._worker.hello  # what the worker runs (rtlsim: execution, fifo_depths, clock)
        self.clock_mhz = self.worker_info.get("clock_mhz")  # rtlsim: the build's clock
        self.simulated_cycles = 0  # rtlsim: clock cycles of all batches so far
        self.last_cycles = None
        self._pending = None
        self.batch_size = batch_size

    # ---- the overlay's shape bookkeeping -----------------------------------------------------
    def _with_batch(self, key: str, ind: int, n: int | None = None) -> tuple:
        s = list(self.io_shape_dict[key][ind])
        s[0] = self._batch_size if n is None else n
        return tuple(s)

    def idt(self, ind=0):
        return self.io_shape_dict["idt"][ind]

    def odt(self, ind=0):
        return self.io_shape_dict["odt"][ind]

    def ishape_normal(self, ind=0):
        return self._with_batch("ishape_normal", ind)

    def oshape_normal(self, ind=0):
        return self._with_batch("oshape_normal", ind)

    def ishape_folded(self, ind=0):
        return self._with_batch("ishape_folded", ind)

    def oshape_folded(self, ind=0):
        return self._with_batch("oshape_folded", ind)

    def ishape_packed(self, ind=0):
        return self._with_batch("ishape_packed", ind)

    def oshape_packed(self, ind=0):
        return self._with_batch("oshape_packed", ind)

    @property
    def num_inputs(self):
        return 1

    @property
    def num_outputs(self):
        return 1

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        value = int(value)
        if value < 1:
            raise ValueError(f"batch size must be at least 1, got {value}")
        self._batch_size = value
        # the "device" buffers, as pynq.allocate would give them
        self.ibuf_packed_device = [np.zeros(self.ishape_packed(0), dtype=np.uint8)]
        self.obuf_packed_device = [np.zeros(self.oshape_packed(0), dtype=np.uint8)]
        self.obuf_packed = [np.empty_like(self.obuf_packed_device[0])]

    # ---- fold / pack: finn-plus-driver's functions, with its DMA overlay's flags --------------
    def fold_input(self, ibuf_normal, ind=0):
        if tuple(ibuf_normal.shape) != self.ishape_normal(ind):
            raise MetadataError(f"input batch has shape {tuple(ibuf_normal.shape)}, the accelerator takes "
                                f"{self.ishape_normal(ind)} at batch size {self.batch_size}")
        return ibuf_normal.reshape(self.ishape_folded(ind))

    def pack_input(self, ibuf_folded, ind=0):
        from finn_plus_driver.packing import finnpy_to_packed_bytearray

        return finnpy_to_packed_bytearray(ibuf_folded, self.idt(ind), reverse_endian=True, reverse_inner=True)

    def unpack_output(self, obuf_packed, ind=0):
        from finn_plus_driver.packing import packed_bytearray_to_finnpy

        return packed_bytearray_to_finnpy(obuf_packed, self.odt(ind), self.oshape_folded(ind),
                                          reverse_endian=True, reverse_inner=True)

    def unfold_output(self, obuf_folded, ind=0):
        return obuf_folded.reshape(self.oshape_normal(ind))

    def copy_input_data_to_device(self, data, ind=0):
        np.copyto(self.ibuf_packed_device[ind], data)

    def copy_output_data_from_device(self, data, ind=0):
        np.copyto(data, self.obuf_packed_device[ind])

    # ---- execution ---------------------------------------------------------------------------
    def execute_on_buffers(self, asynch=False, batch_size=None):
        n = self.batch_size if batch_size is None else int(batch_size)
        if not 1 <= n <= self.batch_size:
            raise ValueError(f"batch_size {n} is not in 1..{self.batch_size}")
        if self._pending is not None:
            raise EmulatorError("a batch is still running: call wait_until_finished() first")
        self._worker.send_execute(self.ibuf_packed_device[0][:n])
        self._pending = n
        if not asynch:
            self.wait_until_finished()

    def wait_until_finished(self):
        if self._pending is None:
            return
        n, self._pending = self._pending, None
        out, head = self._worker.receive(self.timeout_s)
        want = (n, *self.oshape_packed(0)[1:])
        if tuple(out.shape) != want or out.dtype != np.uint8:
            raise EmulatorError(f"emulator returned {out.dtype} {tuple(out.shape)}, expected uint8 {want}")
        self.obuf_packed_device[0][:n] = out
        self.emulator_seconds += float(head.get("seconds", 0.0))
        if "cycles" in head:
            self.last_cycles = int(head["cycles"])
            self.simulated_cycles += self.last_cycles

    def execute(self, input_npy):
        if isinstance(input_npy, list):
            if len(input_npy) != 1:
                raise MetadataError(f"{len(input_npy)} inputs given, the accelerator has 1")
            input_npy = input_npy[0]
        packed = self.pack_input(self.fold_input(input_npy))
        self.copy_input_data_to_device(packed)
        self.execute_on_buffers()
        self.copy_output_data_from_device(self.obuf_packed[0])
        return self.unfold_output(self.unpack_output(self.obuf_packed[0]))

    def throughput_test(self, **kwargs) -> dict:
        """The keys of FINNDMAOverlay.throughput_test, measured on the emulator (random input codes)."""
        from qonnx.util.basic import gen_finn_dt_tensor

        x = gen_finn_dt_tensor(self.idt(), self.ishape_normal())
        t = {}
        t0 = time.perf_counter()
        folded = self.fold_input(x)
        t["fold_input[ms]"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        packed = self.pack_input(folded)
        t["pack_input[ms]"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        self.copy_input_data_to_device(packed)
        t["copy_input_data_to_device[ms]"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        self.execute_on_buffers()
        runtime = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.copy_output_data_from_device(self.obuf_packed[0])
        t["copy_output_data_from_device[ms]"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        folded_out = self.unpack_output(self.obuf_packed[0])
        t["unpack_output[ms]"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        self.unfold_output(folded_out)
        t["unfold_output[ms]"] = (time.perf_counter() - t0) * 1e3
        res = {
            "runtime[ms]": runtime * 1e3,
            "throughput[images/s]": self.batch_size / runtime,
            "DRAM_in_bandwidth[MB/s]": float(np.prod(self.ishape_packed())) * 1e-6 / runtime,
            "DRAM_out_bandwidth[MB/s]": float(np.prod(self.oshape_packed())) * 1e-6 / runtime,
            "fclk[mhz]": None,
            "batch_size": self.batch_size,
            "emulated": True,
        }
        if self.last_cycles:  # rtlsim: what the simulated cycles mean at the build's clock
            res["simulated_cycles"] = self.last_cycles
            res["throughput_at_clock[images/s]"] = self.batch_size * self.clock_mhz * 1e6 / self.last_cycles
            res["fclk[mhz]"] = self.clock_mhz
        res.update(t)
        return res

    def close(self) -> None:
        if getattr(self, "_worker", None) is not None:
            self._worker.close()
            self._worker = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

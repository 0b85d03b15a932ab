"""A real server for a test, on 127.0.0.1 only (PostgreSQL for the shared sweep, OpenSSH for the board
driver): a free port, the server's output in a log, up once it answers, stopped at the end.

The driver's tests run in their own environment with tests/driver as rootdir; their conftest puts this
folder on sys.path, so both suites start their servers one way.
"""
from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts_connections(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port` (a server's readiness where it has no client here)."""
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@contextmanager
def loopback_server(argv: list[str], log_path: Path, ready: Callable[[], bool], *, name: str,
                    timeout_s: float = 30, not_yet: tuple = (OSError,), stop_signal: int = signal.SIGTERM,
                    on_early_exit: Callable[[str], None] = pytest.fail, **popen) -> Iterator[subprocess.Popen]:
    """Run `argv` with its output in `log_path` until `ready()` is true (`not_yet` exceptions mean not yet),
    yield the process, and stop it with `stop_signal` at the end (killed after 20 s). A server that exits
    before it is ready, or is not ready within `timeout_s`, ends the test with its log's tail."""
    def tail() -> str:
        return Path(log_path).read_text(errors="replace")[-800:]

    with open(log_path, "w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **popen)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                on_early_exit(f"{name} exited ({proc.returncode}) before it was ready: {tail()}")
            try:
                if ready():
                    break
            except not_yet:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{name} was not ready within {timeout_s:g} s: {tail()}")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(stop_signal)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

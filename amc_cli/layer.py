"""`run_command`: call a command's main and turn whatever it raises into one line and an exit status."""

from __future__ import annotations

import datetime
import errno
import functools
import inspect
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable, Sequence

from amc_cli.errors import INTERNAL, INTERRUPTED, CommandError, Interrupted, RefusedInput

#: OSError numbers that mean "this path cannot be used", not a bug: refused input, with the path named
PATH_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EEXIST,
               errno.ENOSPC, errno.EROFS, errno.ENAMETOOLONG, errno.ENOTEMPTY, errno.EDQUOT}


def log_dir() -> Path:
    """Where tracebacks go: $AMC_LOG_DIR, else the XDG state folder (~/.local/state/amc-fpga/logs)."""
    if os.environ.get("AMC_LOG_DIR"):
        return Path(os.environ["AMC_LOG_DIR"])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "amc-fpga" / "logs"


def write_traceback(prog: str, argv: Sequence[str], exc: BaseException) -> Path:
    """The traceback of an unexpected error, with the command line, in a new file; its path."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (f"command: {prog} {' '.join(argv)}\ncwd: {os.getcwd()}\npython: {sys.version.split()[0]}\n\n"
            + "".join(traceback.format_exception(exc)))
    for folder in (log_dir(), Path(tempfile.gettempdir()) / "amc-fpga-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{prog.replace(' ', '-').replace('/', '-')}-{stamp}-{os.getpid()}.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    raise exc  # nowhere to write: better a traceback than nothing


def describe_os_error(exc: OSError) -> str:
    """`path: reason` for an OSError, as the user needs it (no errno numbers)."""
    reason = exc.strerror or str(exc)
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


def command_name(main: Callable) -> str:
    """`model.cost` for `python -m model.cost`, the script's name for a script."""
    module = getattr(main, "__module__", None) or "command"
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module = spec.name if spec is not None else Path(sys.argv[0]).stem
    return module.removesuffix(".__main__")


#: a message of at most this many lines is shown whole (a refusal with the steps that fix it)
SHOWN_LINES = 12


def one_line(prog: str, argv: Sequence[str], exc: BaseException) -> str:
    """The error's message; one longer than SHOWN_LINES (a tool's dump inside it) becomes its first line,
    and goes whole to a log file that line names."""
    text = str(exc).strip()
    if len(text.splitlines()) <= SHOWN_LINES:
        return text
    path = write_traceback(prog, argv, exc)
    return f"{text.splitlines()[0].rstrip(' :')} ... (the whole message: {path})"


def run_command(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None,
                prog: str | None = None) -> int:
    """Run `main(argv)`; return its status, or the status of what it raised, after one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    prog = prog or command_name(main)
    try:
        takes_argv = bool(inspect.signature(main).parameters)  # a script's main() may parse sys.argv itself
        return int((main(args) if takes_argv else main()) or 0)
    except SystemExit as exc:  # argparse's usage errors (status 2) and explicit exits pass through
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"\ninterrupted: {one_line(prog, args, exc)}", file=sys.stderr)
        return exc.status
    except CommandError as exc:
        print(f"error: {one_line(prog, args, exc)}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `... | head`: the reader left; nothing to say
        sys.stderr.close()
        return 0
    except OSError as exc:  # a path that cannot be used is refused input; other OS errors are unexpected
        if exc.errno is not None and exc.errno not in PATH_ERRNOS:
            return _internal(prog, args, exc)
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return RefusedInput.status
    except MemoryError as exc:
        path = write_traceback(prog, args, exc)
        print(f"error: out of memory (an input or a setting larger than this machine holds); details in {path}",
              file=sys.stderr)
        return RefusedInput.status
    except Exception as exc:  # noqa: BLE001 - the one place that catches everything
        return _internal(prog, args, exc)


def _internal(prog: str, args: list, exc: BaseException) -> int:
    path = write_traceback(prog, args, exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    where = "".join(f" {note}" for note in getattr(exc, "__notes__", ()))
    print(f"error: unexpected {type(exc).__name__}{where}{': ' + first[:200] if first else ''} "
          f"(a bug: please report it with the traceback in {path})", file=sys.stderr)
    return INTERNAL


def command(main: Callable[[Sequence[str] | None], int | None]) -> Callable[[Sequence[str] | None], int]:
    """Decorate a command's `main(argv)`: calling it runs through `run_command` and returns the exit status."""

    @functools.wraps(main)
    def entry(argv: Sequence[str] | None = None) -> int:
        return run_command(main, argv)

    return entry

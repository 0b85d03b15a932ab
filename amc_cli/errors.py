"""What can go wrong in a command, as exception classes; each class's `status` is the exit status.

A stage's own errors derive from these (`class RecipeError(RefusedInput)`), so a new command needs no
error mapping of its own: raising the right kind is enough. The table in docs/usage.md is tested against
STATUSES.
"""

from __future__ import annotations


class CommandError(Exception):
    """An error the project expects; its message is the one line the user reads."""

    status = 1


class RefusedInput(CommandError, ValueError):
    """A file, folder or value the command cannot use; nothing was written."""

    status = 2


class ConstraintMissed(CommandError):
    """The command ran, and what it was asked to meet (a budget, a target, agreement) was not met."""

    status = 1


class ToolMissing(CommandError):
    """A tool the command needs (Vivado, Verilator, Yosys, a bitfile) is not on this machine."""

    status = 3


class AcceleratorFailed(CommandError):
    """The accelerator (on the board, or its emulation) did not answer in time, or its process died."""

    status = 4


class BoardUnreachable(CommandError):
    """ssh or scp to the board failed or timed out."""

    status = 5


INTERNAL = 70  # sysexits' EX_SOFTWARE: a bug; the traceback is in the log file the message names
INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class Interrupted(CommandError):
    """Ctrl-C, raised by a command that has something to say about it (what was kept, how to resume)."""

    status = INTERRUPTED

#: exit status -> what it means (the table of docs/usage.md)
STATUSES: dict[int, str] = {
    0: "success",
    ConstraintMissed.status: "a check or constraint was not met (budget, target, verification, agreement)",
    RefusedInput.status: "bad usage or refused input (a file, folder or value named in the message); nothing written",
    ToolMissing.status: "a tool is missing (Vivado, Verilator, Yosys, the bitfile)",
    AcceleratorFailed.status: "the accelerator or its emulation did not answer, or died",
    BoardUnreachable.status: "the board cannot be reached (ssh/scp)",
    INTERNAL: "an unexpected error: one line names the log file holding the traceback",
    INTERRUPTED: "interrupted (Ctrl-C); long runs resume when the same command runs again",
}

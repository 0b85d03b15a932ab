"""The command layer every entry point runs through: one line and a documented exit status for every error.

A command's `main(argv) -> int`, decorated with `@command`, raises; the layer decides what the user sees.
Errors the project expects derive from one of the classes in `amc_cli.errors`, whose `status` is the exit
status; an error nobody expected is one line naming a log file that holds its traceback (status 70). No
traceback reaches the terminal. Beside it: `inputs` (checks before a file is read), `outputs` (no command
writes over its inputs; temporary names renamed into place), `paths` (the repository's default paths).
The standard library only (numpy and onnx imported lazily where a check needs them): the board's driver
imports it too.
"""

from amc_cli.errors import (
    STATUSES,
    AcceleratorFailed,
    BoardUnreachable,
    CommandError,
    ConstraintMissed,
    Interrupted,
    RefusedInput,
    ToolMissing,
)
from amc_cli.layer import command, run_command

__all__ = [
    "STATUSES",
    "AcceleratorFailed",
    "BoardUnreachable",
    "CommandError",
    "ConstraintMissed",
    "Interrupted",
    "RefusedInput",
    "ToolMissing",
    "command",
    "run_command",
]

"""One rule for the paths the code chooses by itself: they sit under the repository this code runs from
(where the Makefile is), never under the working directory. Paths a user writes (options, recipe values)
are the user's: relative to the working directory, as any command line tool reads them."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    """The project's shared folder (vendor/: vendored models, reference/: the challenge teams' networks):
    beside the checkout, or inside it where a copy of the tree carries it."""
    for candidate in (REPO_ROOT.parent / "shared", REPO_ROOT / "shared"):
        if candidate.is_dir():
            return candidate
    return REPO_ROOT.parent / "shared"


SHARED = _shared()

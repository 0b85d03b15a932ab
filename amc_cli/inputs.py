"""Inputs checked before they are read: sizes against what the format can hold, counts against what the data
holds, thread counts against the machine, ONNX external data inside the model's folder, frame shapes named.

One shared check per kind, so that every command refuses the same input with the same line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from amc_cli.errors import CommandError, RefusedInput

#: protobuf cannot parse a message over 2 GiB: an ONNX file without external data cannot be larger
ONNX_MAX_BYTES = 2**31 - 1
#: this project's networks are kilobytes to megabytes; a checkpoint of gigabytes is not one of them
TORCH_FILE_MAX_BYTES = 2**31 - 1
#: JSON and YAML the project reads (recipes, specs, records, reports, folding configs)
TEXT_MAX_BYTES = 256 << 20

FRAME_LEN = 1024


def human_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def checked_file(path: str | Path, what: str, max_bytes: int | None = None) -> Path:
    """`path` if it is a non-empty regular file (of at most `max_bytes`, where given; memory-mapped and
    streamed formats need no bound); otherwise one line saying why not.

    Only stat() is used: a refused file is never opened.
    """
    path = Path(path)
    if not path.exists():
        raise RefusedInput(f"{path}: no such file (expected {what})")
    if not path.is_file():
        raise RefusedInput(f"{path}: {'a folder' if path.is_dir() else 'not a regular file'}, not {what}")
    size = path.stat().st_size
    if size == 0:
        raise RefusedInput(f"{path}: the file is empty (0 bytes), not {what}")
    if max_bytes is not None and size > max_bytes:
        raise RefusedInput(f"{path}: {human_bytes(size)}, larger than {what} can be ({human_bytes(max_bytes)}); "
                           "is it the right file?")
    return path


def load_onnx(path: str | Path, what: str = "an ONNX model"):
    """An onnx.ModelProto read from `path` after its size and its external data were checked.

    External data must lie inside the model's folder (no absolute paths, no `..`, no links out), in files
    that hold the bytes the model says; its total is bounded like the model itself.
    """
    import onnx
    from onnx import external_data_helper

    path = checked_file(path, what, ONNX_MAX_BYTES)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError and friends: not a protobuf, truncated
        raise RefusedInput(f"{path}: not a readable ONNX model ({type(exc).__name__}); a truncated copy or "
                           "another kind of file? Export the model again") from exc
    folder = path.resolve().parent
    total = 0
    for tensor in _tensors(model.graph):
        if not external_data_helper.uses_external_data(tensor):
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
            raise RefusedInput(f"{path}: tensor {tensor.name!r} keeps its data at {location!r}, outside the model's "
                               f"folder {folder}; external data must sit beside the model (save it again with a "
                               "relative location)")
        if not target.is_file():
            raise RefusedInput(f"{path}: tensor {tensor.name!r}'s external data {location!r} is missing")
        offset, length = int(info.get("offset", 0) or 0), int(info.get("length", 0) or 0)
        if offset + length > target.stat().st_size:
            raise RefusedInput(f"{path}: tensor {tensor.name!r} wants bytes {offset}..{offset + length} of "
                               f"{location!r}, which holds {target.stat().st_size}")
        total += length or target.stat().st_size
        if total > ONNX_MAX_BYTES:
            raise RefusedInput(f"{path}: over {human_bytes(ONNX_MAX_BYTES)} of external data; not a model this "
                               "toolchain builds")
    if total:
        external_data_helper.load_external_data_for_model(model, str(folder))
    return model


def read_json(path: str | Path, what: str = "a JSON file"):
    """The data of a JSON file the project reads (a report, a record, a configuration): one that is too
    large, damaged or cut short is refused in one line naming it. A missing file stays FileNotFoundError."""
    path = Path(path)
    if path.is_file() and path.stat().st_size > TEXT_MAX_BYTES:
        raise RefusedInput(f"{path}: {human_bytes(path.stat().st_size)}, larger than {what} can be "
                           f"({human_bytes(TEXT_MAX_BYTES)})")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        reason = "empty" if not path.stat().st_size else f"not valid JSON{where}"
        raise RefusedInput(f"{path}: {reason} (cut short or damaged?); write it again with the command that "
                           "made it") from exc


def _tensors(graph):
    """Every TensorProto of a graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _tensors(sub)


#: what h5py raises where a file is damaged: its C library reports damage under several Python types
HDF5_DAMAGE = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError)


def hdf5_damage(exc: BaseException) -> bool:
    """Whether `exc`, raised while reading an HDF5 file, says the file is damaged (not one of our refusals)."""
    return isinstance(exc, HDF5_DAMAGE) and not isinstance(exc, CommandError)


def frames_shape_problem(shape: Sequence[int], channels_first: bool = False, frame_len: int = FRAME_LEN) -> str | None:
    """None if `shape` holds frames of I/Q samples as expected: (N, frame_len, 2) as RadioML's X, or
    (N, 2, frame_len) where `channels_first`; else what is wrong, plainly."""
    shape = tuple(int(d) for d in shape)
    want, other = ((2, frame_len), (frame_len, 2)) if channels_first else ((frame_len, 2), (2, frame_len))
    expected = f"(N, {want[0]}, {want[1]})"
    if len(shape) == 3 and shape[1:] == want:
        return None if shape[0] > 0 else f"no frames: X has shape {shape}"
    hint = ""
    if len(shape) == 3 and shape[1:] == other:
        hint = f"; these are stored transposed: np.transpose(x, (0, 2, 1)) gives {expected}"
    elif len(shape) == 3 and 2 in (shape[1], shape[2]):
        samples = shape[2] if shape[1] == 2 else shape[1]
        hint = f"; frames of {samples} samples, the model takes {frame_len}"
    return f"X has shape {shape}, expected {expected}: frames of {frame_len} I/Q samples{hint}"


def load_npy(path: str | Path, what: str):
    """A numeric .npy array, memory-mapped (nothing read until used); pickled objects, text and damaged
    headers are refused in one line."""
    import numpy as np

    path = checked_file(path, f"an .npy array of {what}")
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:  # object arrays (pickles), a bad header, a file shorter than its header says
        raise RefusedInput(f"{path}: not a numeric .npy array ({str(exc).splitlines()[0][:120]})") from exc
    except Exception as exc:  # noqa: BLE001 - numpy's format errors have no common base
        raise RefusedInput(f"{path}: not an .npy array ({type(exc).__name__})") from exc
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iuf":
        raise RefusedInput(f"{path}: an array of {getattr(x, 'dtype', type(x).__name__)}, expected numbers ({what})")
    return x


def check_count(asked: int, available: int, option: str, of_what: str) -> int:
    """`asked` if the data holds that many; otherwise one line naming the option and what there is."""
    if asked > available:
        raise RefusedInput(f"{option} {asked:,}: the data holds {available:,} {of_what}; ask for at most that many")
    return asked


def max_threads() -> int:
    """The most threads worth starting here: 4 per CPU (more only adds switching, and some libraries
    allocate per thread)."""
    return 4 * (os.cpu_count() or 1)


def check_threads(n: int, option: str = "--threads") -> int:
    """A thread count this machine can run: 1 to max_threads()."""
    if n < 1 or n > max_threads():
        raise RefusedInput(f"{option} {n}: this machine has {os.cpu_count()} CPUs; use 1 to {max_threads()}")
    return n


def physical_memory() -> int:
    """Bytes of RAM on this machine (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(nbytes: int, option: str, what: str, fraction: float = 0.5) -> int:
    """Refuse a setting whose arrays alone would take more than `fraction` of this machine's RAM."""
    ram = physical_memory()
    if ram and nbytes > fraction * ram:
        raise RefusedInput(f"{option}: {what} would take {human_bytes(nbytes)}, more than {fraction:.0%} of this "
                           f"machine's {human_bytes(ram)} of memory; ask for less")
    return nbytes

"""Network registry: recipes name a network and its arguments; `build_net` makes it."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def _vgg10(**kw) -> nn.Module:
    from model.nets.vgg10 import VGG10

    return VGG10(**kw)


def _compact(**kw) -> nn.Module:
    from model.nets.compact import CompactCNN

    return CompactCNN(**kw)


def _bacalhaunet(**kw) -> nn.Module:
    from model.nets.bacalhaunet import BacalhauNet

    return BacalhauNet(**kw)


def _imperial_ipc1(**kw) -> nn.Module:
    from model.nets.imperial import ImperialIPC1

    return ImperialIPC1(**kw)


NETS: dict[str, Callable[..., nn.Module]] = {
    "vgg10": _vgg10,
    "compact": _compact,
    "bacalhaunet": _bacalhaunet,
    "imperial_ipc1": _imperial_ipc1,
}


def build_net(name: str, **kwargs) -> nn.Module:
    if name not in NETS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(sorted(NETS))}")
    try:
        return NETS[name](**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments for network {name!r}: {exc}") from exc

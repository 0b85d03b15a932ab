"""Rebuild a trained network from a checkpoint alone: its name and arguments travel inside it.

Handles what compression leaves in a state_dict: prune masks (`weight_orig`/`weight_mask`) and layers
narrowed by channel pruning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from model.compress.channels import shrink_to_state
from model.compress.pruning import load_pruned_state_dict, make_pruning_permanent
from model.nets import build_net
from model.train import CHECKPOINT_FORMAT, load_checkpoint, save_atomic


def net_from_checkpoint(ckpt: dict, permanent: bool = True) -> nn.Module:
    """The network of `ckpt` in eval mode; masks folded into the weights unless `permanent` is False."""
    net = build_net(ckpt["net"]["name"], **ckpt["net"]["args"])
    shrink_to_state(net, ckpt["model"])
    load_pruned_state_dict(net, ckpt["model"])
    if permanent:
        make_pruning_permanent(net)
    return net.eval()


def checkpoint_of(path: str | Path) -> Path:
    """A run folder means its final model (compressed if the recipe compresses, else the best epoch)."""
    path = Path(path)
    if path.is_dir():
        for name in ("final.pt", "best.pt"):
            if (path / "checkpoints" / name).exists():
                return path / "checkpoints" / name
        raise FileNotFoundError(f"{path}: run folder without checkpoints/final.pt or best.pt; train it first")
    return path


def load_trained(path: str | Path, permanent: bool = True) -> nn.Module:
    return net_from_checkpoint(load_checkpoint(checkpoint_of(path)), permanent)


@dataclass
class Model:
    """A network state between steps: what a checkpoint holds, without optimizer state."""

    net: dict  # {"name", "args"}
    state: dict  # state_dict, possibly with prune masks and narrowed shapes

    def build(self, permanent: bool = False) -> nn.Module:
        return net_from_checkpoint({"net": self.net, "model": self.state}, permanent=permanent)

    @classmethod
    def from_checkpoint(cls, path: Path) -> "Model":
        ckpt = load_checkpoint(path)
        return cls(net=ckpt["net"], state=ckpt["model"])

    def save(self, path: Path, **extra) -> None:
        save_atomic({"format": CHECKPOINT_FORMAT, "net": self.net, "model": self.state, **extra}, path)

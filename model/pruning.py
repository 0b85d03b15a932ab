"""Pruning helpers around torch.nn.utils.prune.

A network pruned with torch.nn.utils.prune keeps each pruned tensor as a pair `<name>_orig` (the dense
values, still trained) and `<name>_mask` (0/1), and computes `<name> = <name>_orig * <name>_mask` in a
forward pre-hook; its state_dict holds the pair, not `<name>`. Such a checkpoint loads into a fresh
network only after the same reparametrization is applied, which `load_pruned_state_dict` does. Before
export, `make_pruning_permanent` folds the masks into the tensors, so the zeros reach the exported weights
(where the cost function discounts them) and no hook is left.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils import prune

ORIG, MASK = "_orig", "_mask"


class PrunedCheckpointError(ValueError):
    """A state_dict whose pruning pairs do not fit the network."""


def pruned_tensor_names(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Dotted names of the pruned tensors in `state_dict` (`features.2.weight` for a pair
    `features.2.weight_orig` / `features.2.weight_mask`); raises if a half of a pair is missing."""
    origs = {k[: -len(ORIG)] for k in state_dict if k.endswith(ORIG)}
    masks = {k[: -len(MASK)] for k in state_dict if k.endswith(MASK)}
    if origs != masks:
        raise PrunedCheckpointError(
            f"unpaired pruning tensors: {sorted(origs ^ masks)} (each pruned <name> needs <name>_orig and "
            "<name>_mask)"
        )
    return sorted(origs)


def load_pruned_state_dict(net: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Load `state_dict`, which may hold torch-pruning pairs, into `net` with strict=True.

    Every `<module>.<name>_orig`/`<module>.<name>_mask` pair gets the identity reparametrization on
    `<module>.<name>` first (skipped where `net` is already pruned there), so the masks load as they are.
    Returns the pruned tensors' dotted names. Masks are not checked to be 0/1: they are loaded as saved.
    """
    names = pruned_tensor_names(state_dict)
    for dotted in names:
        module_name, _, tensor_name = dotted.rpartition(".")
        try:
            module = net.get_submodule(module_name)
        except AttributeError as exc:
            raise PrunedCheckpointError(f"{dotted}: the network has no module {module_name!r}") from exc
        if hasattr(module, tensor_name + ORIG):
            continue  # already reparametrized; load_state_dict overwrites its mask
        if not isinstance(getattr(module, tensor_name, None), nn.Parameter):
            raise PrunedCheckpointError(f"{dotted}: {type(module).__name__} has no parameter {tensor_name!r}")
        prune.identity(module, tensor_name)
    net.load_state_dict(state_dict, strict=True)
    return names


def pruned_tensors(net: nn.Module) -> dict[str, torch.Tensor]:
    """The masks of every reparametrized tensor in `net`, by dotted name."""
    out = {}
    for module_name, module in net.named_modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):  # a PruningContainer is one too
                name = hook._tensor_name
                out[f"{module_name}.{name}" if module_name else name] = getattr(module, name + MASK)
    return out


def make_pruning_permanent(net: nn.Module) -> list[str]:
    """Fold every mask into its tensor (`prune.remove`): `<name>` becomes an ordinary parameter holding
    `<name>_orig * <name>_mask`, with exact zeros where the mask is 0. Returns the dotted names."""
    names = sorted(pruned_tensors(net))
    for dotted in names:
        module_name, _, tensor_name = dotted.rpartition(".")
        prune.remove(net.get_submodule(module_name), tensor_name)
    return names

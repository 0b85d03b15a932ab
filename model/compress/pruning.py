"""Unstructured pruning: global magnitude (iterative) and threshold pruning, with torch's prune masks.

Masks live as torch.nn.utils.prune reparametrisations (`weight_orig` * `weight_mask`), the same form
the Imperial team's published checkpoint uses, so fine-tuning keeps pruned weights at zero. Before
export the masks are made permanent: the zeros then reach the exported weights, where the challenge's
cost function discounts them (sparsity discounted).

A torch-pruned state_dict holds each pruned tensor as a pair `<name>_orig` (dense values, still trained)
and `<name>_mask` (0/1); it loads into a fresh network only after the same reparametrisation is applied,
which `load_pruned_state_dict` does for any module and tensor (the Imperial checkpoint prunes a BatchNorm
weight). `make_pruning_permanent` folds the masks in before export.

Brevitas computes a layer's weight scale from its parameter's max |w|; magnitude and threshold pruning
never remove the largest weight, so pruning leaves the quantization scale unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn
from torch.nn.utils import prune

from amc_cli import RefusedInput

ORIG, MASK = "_orig", "_mask"



class PrunedCheckpointError(RefusedInput):
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


def prunable_layers(net: nn.Module, exclude: Iterable[str] = ()) -> list[tuple[str, nn.Module]]:
    """Conv and linear layers (Brevitas' Quant* subclass them), minus names listed in `exclude`."""
    skip = set(exclude)
    return [(n, m) for n, m in net.named_modules()
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)) and n not in skip]


def ensure_masks(net: nn.Module, names: Iterable[str] | None = None) -> None:
    """Give every prunable layer (or those named) an all-ones mask if it has none yet."""
    wanted = None if names is None else set(names)
    for name, m in prunable_layers(net):
        if (wanted is None or name in wanted) and not prune.is_pruned(m):
            prune.identity(m, "weight")


def _masked_layers(net: nn.Module, exclude: Iterable[str]) -> list[nn.Module]:
    layers = [m for _, m in prunable_layers(net, exclude)]
    for m in layers:
        if not hasattr(m, "weight_mask"):
            prune.identity(m, "weight")
    return layers


@torch.no_grad()
def global_magnitude_prune(net: nn.Module, fraction: float, exclude: Iterable[str] = ()) -> int:
    """Zero the `fraction` of still-unpruned weights with the smallest |w|, ranked across all layers.

    Returns how many weights were pruned. Iterating this with fine-tuning in between is the seed's
    iterative magnitude pruning (15% per step).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"pruning fraction must be in (0, 1), got {fraction}")
    layers = _masked_layers(net, exclude)
    alive = torch.cat([m.weight_orig.abs()[m.weight_mask.bool()].flatten() for m in layers])
    k = int(round(fraction * alive.numel()))
    if k == 0:
        return 0
    threshold = torch.kthvalue(alive.float().cpu(), k).values.item()
    pruned = 0
    for m in layers:
        keep = (m.weight_orig.abs() > threshold) & m.weight_mask.bool()
        pruned += int(m.weight_mask.sum().item() - keep.sum().item())
        m.weight_mask.copy_(keep.to(m.weight_mask.dtype))
    return pruned


@torch.no_grad()
def threshold_prune(net: nn.Module, eps: float, exclude: Iterable[str] = ()) -> int:
    """Zero every weight with |w| < eps (BacalhauNet's method); returns how many were newly pruned."""
    pruned = 0
    for m in _masked_layers(net, exclude):
        keep = (m.weight_orig.abs() >= eps) & m.weight_mask.bool()
        pruned += int(m.weight_mask.sum().item() - keep.sum().item())
        m.weight_mask.copy_(keep.to(m.weight_mask.dtype))
    return pruned


@torch.no_grad()
def quantized_weight(m: nn.Module) -> torch.Tensor:
    """The layer's weights as the exporter will write them: masked, then quantized by Brevitas."""
    w = m.weight_orig * m.weight_mask if prune.is_pruned(m) else m.weight
    quant = getattr(m, "weight_quant", None)
    if quant is None or not quant.is_quant_enabled:
        return w
    q = quant(w)
    return q.value if hasattr(q, "value") else q


@torch.no_grad()
def sparsity_report(net: nn.Module) -> dict:
    """Per layer and overall: weights, non-zero weights after quantization (what the cost function
    counts: a weight that quantizes to zero is pruned for free), density."""
    rows, total, nonzero = [], 0, 0
    for name, m in prunable_layers(net):
        w = quantized_weight(m)
        nz = int(torch.count_nonzero(w))
        rows.append({"layer": name, "weights": w.numel(), "nonzero": nz, "density": nz / w.numel()})
        total, nonzero = total + w.numel(), nonzero + nz
    return {"layers": rows, "weights": total, "nonzero": nonzero, "density": nonzero / max(total, 1)}

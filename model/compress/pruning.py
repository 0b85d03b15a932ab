"""Unstructured pruning: global magnitude (iterative) and threshold pruning, with torch's prune masks.

Masks live as torch.nn.utils.prune reparametrisations (`weight_orig` * `weight_mask`), the same form
the Imperial team's published checkpoint uses, so fine-tuning keeps pruned weights at zero. Before
export the masks are made permanent: the zeros then reach the exported weights, where the challenge's
cost function discounts them (sparsity discounted).

Brevitas computes a layer's weight scale from its parameter's max |w|; magnitude and threshold pruning
never remove the largest weight, so pruning leaves the quantization scale unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.utils import prune


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


def make_permanent(net: nn.Module) -> nn.Module:
    """Fold masks into the weights (prune.remove), so the zeros are in the weights the exporter sees."""
    for _, m in prunable_layers(net):
        if prune.is_pruned(m):
            prune.remove(m, "weight")
    return net


def load_state_with_masks(net: nn.Module, state: dict, strict: bool = True):
    """Load a state_dict that may hold torch-pruning `<name>_orig` / `<name>_mask` pairs.

    Layers whose weights come with a mask get the prune reparametrisation first, so the keys match.
    """
    masked = {k[: -len(".weight_mask")] for k in state if k.endswith(".weight_mask")}
    ensure_masks(net, masked)
    return net.load_state_dict(state, strict=strict)


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

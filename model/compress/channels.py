"""Structured (channel) pruning: narrower layers, which a FINN accelerator turns into fewer LUTs.

Unstructured zeros are free in the challenge's score but a dataflow accelerator still stores and streams
them; removing whole channels shrinks the hardware. The dependency tracking (which input channels of
the next layer, which BatchNorm entries, which depthwise groups and residual partners go with a removed
output channel) comes from torch-pruning, a maintained library, rather than hand-written graph surgery.

A narrowed network no longer matches its recipe's arguments; `shrink_to_state` rebuilds those shapes
from a saved state_dict onto a freshly built network, so checkpoints stay plain state_dicts.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import torch
from torch import nn

from model.radioml import FRAME_LEN


def _first_depthwise(net: nn.Module) -> list[nn.Module]:
    """A depthwise conv fed by the network input ties its channels to the 2 I/Q inputs: never prune it."""
    for m in net.modules():
        if isinstance(m, nn.Conv1d):
            return [m] if m.groups > 1 and m.groups == m.in_channels else []
    return []


def _classifier(net: nn.Module) -> list[nn.Module]:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    return linears[-1:]  # its outputs are the 24 classes


def prune_channels(net: nn.Module, fraction: float, exclude: Iterable[str] = ()) -> dict:
    """Remove `fraction` of the output channels of every prunable layer, ranked by L1 norm.

    Returns {layer name: (channels before, after)} for the layers whose width changed.
    """
    import torch_pruning as tp
    from brevitas.graph.calibrate import quantization_status_manager

    if not 0 < fraction < 1:
        raise ValueError(f"channel pruning fraction must be in (0, 1), got {fraction}")
    skip = set(exclude)
    ignored = _first_depthwise(net) + _classifier(net) + [m for n, m in net.named_modules() if n in skip]
    before = {n: m.weight.shape[0] for n, m in net.named_modules() if isinstance(m, (nn.Conv1d, nn.Linear))}
    was_training = net.training
    net.eval()
    # Trace the network as a float network: with quantization on, Brevitas' QuantTensor operations hide
    # the flatten between the last conv and the first dense layer from torch-pruning's tracer.
    float_view = quantization_status_manager(net, disable_act_quant=True, disable_weight_quant=True,
                                             disable_bias_quant=True, is_training=False)
    with float_view, warnings.catch_warnings():
        # Brevitas' scalar activation-scale parameters have no channel dimension to prune.
        warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
        pruner = tp.pruner.MagnitudePruner(
            net, torch.zeros(1, 2, FRAME_LEN), importance=tp.importance.MagnitudeImportance(p=1),
            pruning_ratio=fraction, ignored_layers=ignored,
        )
        pruner.step()
    net.train(was_training)
    after = {n: m.weight.shape[0] for n, m in net.named_modules() if isinstance(m, (nn.Conv1d, nn.Linear))}
    return {n: (before[n], after[n]) for n in before if before[n] != after[n]}


def _resize_param(module: nn.Module, name: str, shape: torch.Size) -> None:
    old = getattr(module, name)
    new = torch.empty(shape, dtype=old.dtype, device=old.device)
    if isinstance(old, nn.Parameter):
        setattr(module, name, nn.Parameter(new, requires_grad=old.requires_grad))
    else:
        module.register_buffer(name, new)


@torch.no_grad()
def shrink_to_state(net: nn.Module, state: dict) -> nn.Module:
    """Narrow the conv, linear and BatchNorm layers of `net` to the shapes stored in `state`.

    Only shapes change here; load_state_dict fills in the values afterwards.
    """
    for name, m in net.named_modules():
        prefix = f"{name}." if name else ""
        key = next((prefix + k for k in ("weight", "weight_orig") if prefix + k in state), None)
        if key is None:
            continue
        shape = state[key].shape
        if isinstance(m, nn.Conv1d) and tuple(shape) != tuple(m.weight.shape):
            depthwise = m.groups > 1 and m.groups == m.in_channels
            m.out_channels = shape[0]
            m.groups = shape[0] if depthwise else m.groups
            m.in_channels = shape[1] * m.groups
            _resize_param(m, "weight", shape)
        elif isinstance(m, nn.Linear) and tuple(shape) != tuple(m.weight.shape):
            m.out_features, m.in_features = shape
            _resize_param(m, "weight", shape)
        elif isinstance(m, nn.BatchNorm1d) and shape[0] != m.num_features:
            m.num_features = shape[0]
            for p in ("weight", "bias", "running_mean", "running_var"):
                _resize_param(m, p, shape)
        else:
            continue
        bias = state.get(prefix + "bias")
        if getattr(m, "bias", None) is not None and bias is not None and bias.shape != m.bias.shape:
            _resize_param(m, "bias", bias.shape)
    return net


def layer_widths(net: nn.Module) -> dict[str, int]:
    return {n: m.weight.shape[0] for n, m in net.named_modules() if isinstance(m, (nn.Conv1d, nn.Linear))}

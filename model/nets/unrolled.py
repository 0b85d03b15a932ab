"""The exact P-samples-per-clock form of a trained one-sample-per-clock `ours`.

`ours(polyphase=P)` replaces the first depthwise filter with a new, trained stem and collapses time early:
its blocks 1-2 see 128 steps where today's network sees 512 and 256, and it pays for that in accuracy
(1.3-1.8 points at equal score under sweeps/polyphase_fair.yaml). This module does not change the network
at all. It rewrites a P = 1 `ours` so that every layer reads its input as Q phases per step, Q consecutive
samples side by side as channels (phase-major: channel q * C + c is channel c at sample Q t + q), the way
a hardware engineer unrolls a filter in time:

- a depthwise conv of stride s on Q phases is a conv over the steps from Q phases to Q / s phases: output
  phase r of channel c reads input phases q of channel c only, tap j of the original filter landing at step
  offset and phase given by s * r + j - pad = Q * offset + q; every other weight is zero;
- a pointwise conv on Q phases is the same matrix once per phase (block diagonal);
- BatchNorm repeats its per-channel parameters per phase; activation quantizers are per tensor and are the
  trained model's own modules.

Once the strides have consumed the phases (Q = 1: block 3 at P = 8), the trained layers are used as they
are. The function computed is the trained network's, frame for frame (model.export verifies the exported
graph against PyTorch, and tests compare against the P = 1 network); the input is the same polyphase view
as `ours(polyphase=P)` uses, so compile/ and driver/ take it as they take that one.

What it costs: qonnx counts the zero weights as free (sparsity discounted), so bit ops are the original's
exactly; the repeated weights are stored once per output phase, so bit mem grows (each unrolled layer's
weights times its output phases).
"""

from __future__ import annotations

import torch
import brevitas.nn as qnn
from torch import Tensor, nn

from model.nets.ours import Ours, polyphase_strides, polyphase_view
from model.radioml import FRAME_LEN


class UnrolledOurs(nn.Module):
    """A P = 1 `Ours` computing on P samples per step; see the module docstring."""

    def __init__(self, trained: Ours, polyphase: int):
        super().__init__()
        if trained.polyphase != 1:
            raise ValueError(f"unroll a one-sample-per-clock `ours` (polyphase 1), not polyphase {trained.polyphase}")
        depthwise = [m for m in trained.features if isinstance(m, qnn.QuantConv1d) and m.groups > 1]
        polyphase_strides(polyphase, [_stride(m) for m in depthwise], FRAME_LEN)  # P divides the decimation
        self.polyphase = polyphase
        self.input_quant = trained.input_quant
        layers: list[nn.Module] = []
        phases = polyphase
        for module in trained.features:
            if phases == 1:
                layers.append(module)
            elif isinstance(module, qnn.QuantConv1d) and module.groups > 1:
                layers.append(unroll_depthwise(module, phases))
                phases //= _stride(module)
            elif isinstance(module, qnn.QuantConv1d):
                layers.append(unroll_pointwise(module, phases))
            elif isinstance(module, nn.BatchNorm1d):
                layers.append(repeat_batchnorm(module, phases))
            elif isinstance(module, qnn.QuantReLU):  # per-tensor: the same module at every phase
                layers.append(module)
            else:
                raise ValueError(f"unrolling does not know {type(module).__name__} in {type(trained).__name__}")
        self.features = nn.Sequential(*layers)
        self.pool, self.flatten, self.classifier = trained.pool, trained.flatten, trained.classifier

    def forward(self, x: Tensor) -> Tensor:
        x = polyphase_view(self.input_quant(x), self.polyphase)
        return self.classifier(self.flatten(self.pool(self.features(x))))


def _stride(conv: nn.Conv1d) -> int:
    return conv.stride[0]


def _weight_bits(conv: qnn.QuantConv1d) -> int:
    return int(conv.quant_weight().bit_width.item())


def _conv_like(conv: qnn.QuantConv1d, weight: Tensor, padding: int) -> qnn.QuantConv1d:
    """A stride-1 QuantConv1d with `weight`, quantized as `conv` is (per-tensor max-abs scale: the repeated
    and zero-padded weight has the same maximum, so the same scale and the same integers)."""
    out_ch, in_ch, k = weight.shape
    new = qnn.QuantConv1d(in_ch, out_ch, k, stride=1, padding=padding, bias=False, weight_bit_width=_weight_bits(conv))
    with torch.no_grad():
        new.weight.copy_(weight)
    return new


def unroll_depthwise(conv: qnn.QuantConv1d, phases: int) -> qnn.QuantConv1d:
    """A depthwise conv (kernel k, stride s, padding k // 2) on `phases` phases, as a conv over the steps
    from `phases` to `phases / s` phases."""
    channels, k, s, pad = conv.in_channels, conv.kernel_size[0], _stride(conv), conv.padding[0]
    if conv.groups != channels or conv.out_channels != channels or conv.bias is not None:
        raise ValueError(f"{conv}: not a bias-free depthwise conv")
    if phases % s:
        raise ValueError(f"{conv}: stride {s} does not divide {phases} phases")
    out_phases = phases // s
    lo = (-pad) // phases  # step offsets the taps land on: floor((s * r + j - pad) / phases)
    hi = (s * (out_phases - 1) + k - 1 - pad) // phases
    reach = max(-lo, hi)
    w = conv.weight.detach()[:, 0, :]  # (channels, k)
    out = torch.zeros(out_phases * channels, phases * channels, 2 * reach + 1)
    for r in range(out_phases):
        for j in range(k):
            offset, q = divmod(s * r + j - pad, phases)
            out[r * channels:(r + 1) * channels, q * channels:(q + 1) * channels, offset + reach] += torch.diag(w[:, j])
    return _conv_like(conv, out, reach)


def unroll_pointwise(conv: qnn.QuantConv1d, phases: int) -> qnn.QuantConv1d:
    """A 1x1 conv on `phases` phases: its matrix once per phase (block diagonal)."""
    if conv.kernel_size[0] != 1 or _stride(conv) != 1 or conv.groups != 1 or conv.bias is not None:
        raise ValueError(f"{conv}: not a bias-free pointwise conv")
    w = conv.weight.detach()[:, :, 0]
    return _conv_like(conv, torch.block_diag(*[w] * phases)[:, :, None], 0)


def repeat_batchnorm(bn: nn.BatchNorm1d, phases: int) -> nn.BatchNorm1d:
    """BatchNorm (eval) over `phases` phase-major copies of its channels."""
    new = nn.BatchNorm1d(bn.num_features * phases, eps=bn.eps, momentum=bn.momentum)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(new, name).copy_(getattr(bn, name).repeat(phases))
    return new.eval()

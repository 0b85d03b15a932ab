"""`ours`: the network this project stands behind for the challenge's cost metric, with nothing hidden.

Design rules, from what the cost function and a FINN build both pay for:
- every tensor entering a conv or linear layer is quantized (no float paths: a 32-bit input multiplies a
  layer's bit ops by 32/a_bits), and no arithmetic sits in operators the cost function ignores;
- depthwise-separable blocks: a depthwise conv with a large early kernel and a stride does the temporal
  filtering for a handful of MACs per sample, a pointwise conv mixes channels;
- the first depthwise conv filters I and Q separately over 27 samples (~3 symbols at ~8 samples/symbol)
  and halves the rate at once, so everything after it runs at 512 samples or fewer;
- no residual adds (they need a shared quantizer to stream in FINN and cost a float input in the score
  without requantization); a global max pool and one small linear layer as the head;
- per-layer bit widths (lists) so compression can lower them layer by layer; sparsity comes from the
  compression stages of the recipe.

`polyphase=P` lets the accelerator take P I/Q samples per clock instead of one. A frame stored
as (1024, 2) interleaved I/Q reads, byte for byte, as (1024/P, 2P): P consecutive samples per row. The
network does that view itself (a transpose and a reshape in the exported graph, so the graph still takes
(1, 2, 1024) and the cost tool costs it as it is; the host does the same view for free), and the first
depthwise conv becomes a *stem*: a full conv over the 2P polyphase channels (channel 2p + i is sample p
of a row, I for i = 0, Q for i = 1), kernel ceil(k0 / P) rounded up to odd (about the same span in
samples as the depthwise kernel k0), stride 1. The stem decimates by P where block 1 decimated by 2, so
later blocks give up stride factors until the whole network decimates as much as P = 1 does: every block
ends at the same length as in today's network, and every layer after the stem sees a sequence at most
1024/P long. P = 1 is today's network, layer for layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import brevitas.nn as qnn
from brevitas.quant import Int32Bias
from torch import Tensor, nn

from model.quant import fixed_range_input_quant
from model.radioml import FRAME_LEN, N_CLASSES


def _per_layer(value: int | Sequence[int], n: int, what: str) -> list[int]:
    values = [value] * n if isinstance(value, int) else list(value)
    if len(values) != n:
        raise ValueError(f"{what}: expected one value per layer ({n}), got {len(values)}")
    return values


class Ours(nn.Module):
    """Depthwise-separable 1-D CNN; `w_bits`/`a_bits` are an int or one entry per weight layer
    (2 per block, then the classifier) / per activation (2 per block)."""

    def __init__(
        self,
        kernels: Sequence[int] = (27, 15, 9, 9, 5),
        strides: Sequence[int] = (2, 2, 2, 2, 2),
        channels: Sequence[int] = (16, 24, 32, 32, 48),
        w_bits: int | Sequence[int] = 4,
        a_bits: int | Sequence[int] = 4,
        in_bits: int = 8,
        in_range: float = 2.0,
        n_classes: int = N_CLASSES,
        polyphase: int = 1,
        stem_channels: int = 8,
    ):
        super().__init__()
        n_blocks = len(kernels)
        if not len(strides) == len(channels) == n_blocks:
            raise ValueError("kernels, strides and channels need one entry per block")
        wb = _per_layer(w_bits, 2 * n_blocks + 1, "w_bits")
        ab = _per_layer(a_bits, 2 * n_blocks, "a_bits")
        strides = polyphase_strides(polyphase, strides, FRAME_LEN)
        self.polyphase = polyphase
        self.input_quant = qnn.QuantIdentity(act_quant=fixed_range_input_quant(in_bits, -in_range, in_range),
                                             return_quant_tensor=True)
        layers: list[nn.Module] = []
        c_in, length = 2 * polyphase, FRAME_LEN // polyphase
        for i, (k, s, c) in enumerate(zip(kernels, strides, channels)):
            if i == 0 and polyphase > 1:  # the stem: a full conv over the polyphase channels
                kp = stem_kernel(k, polyphase)
                first = qnn.QuantConv1d(c_in, stem_channels, kp, stride=s, padding=kp // 2, bias=False,
                                        weight_bit_width=wb[0])
                k, c_in = kp, stem_channels
            else:
                first = qnn.QuantConv1d(c_in, c_in, k, stride=s, padding=k // 2, groups=c_in, bias=False,
                                        weight_bit_width=wb[2 * i])
            layers += [
                first,
                nn.BatchNorm1d(c_in),
                qnn.QuantReLU(bit_width=ab[2 * i], return_quant_tensor=True),
                qnn.QuantConv1d(c_in, c, 1, bias=False, weight_bit_width=wb[2 * i + 1]),
                nn.BatchNorm1d(c),
                qnn.QuantReLU(bit_width=ab[2 * i + 1], return_quant_tensor=True),
            ]
            c_in, length = c, (length + 2 * (k // 2) - k) // s + 1
        self.features = nn.Sequential(*layers)
        self.pool = nn.MaxPool1d(length)  # global max pool as a static MaxPool: costed and FINN-friendly
        self.flatten = nn.Flatten()
        self.classifier = qnn.QuantLinear(c_in, n_classes, bias=True, weight_bit_width=wb[-1], bias_quant=Int32Bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.input_quant(x)  # elementwise, so it commutes with the view: the graph's input feeds a Quant
        if self.polyphase > 1:
            x = polyphase_view(x, self.polyphase)
        return self.classifier(self.flatten(self.pool(self.features(x))))


def polyphase_view(x: Tensor, p: int) -> Tensor:
    """(N, 2, L) -> (N, 2P, L/P), channel 2p + i = x[:, i, P t + p]: the (L, 2) interleaved frame read as
    (L/P, 2P) rows, channels first. Pure data movement (transpose, reshape), exported as such."""
    n, c, length = x.shape
    return x.transpose(1, 2).reshape(n, length // p, c * p).transpose(1, 2)


def stem_kernel(k0: int, p: int) -> int:
    """The stem's kernel in polyphase steps: about k0 samples, odd so that padding is symmetric."""
    kp = math.ceil(k0 / p)
    return kp if kp % 2 else kp + 1


def polyphase_strides(p: int, strides: Sequence[int], frame_len: int) -> list[int]:
    """Block strides once the stem has decimated by P: block 1's stride and then later blocks' give up
    factors of P in order, so that each block ends at today's length."""
    if p < 1 or p & (p - 1):
        raise ValueError(f"polyphase must be a power of two (1, 2, 4, 8, ...), got {p}")
    if frame_len % p:
        raise ValueError(f"polyphase {p} does not divide the frame length {frame_len}")
    out, left = [], p
    for s in strides:
        g = math.gcd(s, left)
        out.append(s // g)
        left //= g
    if left != 1:
        raise ValueError(f"polyphase {p} is more than the network's total decimation {math.prod(strides)}")
    return out

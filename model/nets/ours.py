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
"""

from __future__ import annotations

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
    ):
        super().__init__()
        n_blocks = len(kernels)
        if not len(strides) == len(channels) == n_blocks:
            raise ValueError("kernels, strides and channels need one entry per block")
        wb = _per_layer(w_bits, 2 * n_blocks + 1, "w_bits")
        ab = _per_layer(a_bits, 2 * n_blocks, "a_bits")
        self.input_quant = qnn.QuantIdentity(act_quant=fixed_range_input_quant(in_bits, -in_range, in_range),
                                             return_quant_tensor=True)
        layers: list[nn.Module] = []
        c_in, length = 2, FRAME_LEN
        for i, (k, s, c) in enumerate(zip(kernels, strides, channels)):
            layers += [
                qnn.QuantConv1d(c_in, c_in, k, stride=s, padding=k // 2, groups=c_in, bias=False,
                                weight_bit_width=wb[2 * i]),
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
        return self.classifier(self.flatten(self.pool(self.features(self.input_quant(x)))))

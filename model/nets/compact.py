"""A small quantized CNN for the demo: trains on two CPU cores in minutes and compiles with FINN.

Plain conv/BN/ReLU/max-pool blocks with early wide pooling keep the MACs (about 1.1 M per frame with the
defaults) an order of magnitude below the VGG10 baseline while every layer stays FINN-friendly.
"""

from __future__ import annotations

from collections.abc import Sequence

import brevitas.nn as qnn
from brevitas.quant import Int32Bias
from torch import nn

from model.quant import fixed_range_input_quant
from model.radioml import FRAME_LEN, N_CLASSES


class CompactCNN(nn.Sequential):
    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 32, 32),
        kernels: Sequence[int] = (5, 5, 3, 3),
        pools: Sequence[int] = (4, 4, 4, 2),
        dense: int = 64,
        w_bits: int = 4,
        a_bits: int = 4,
        in_bits: int = 8,
        in_range: float = 2.0,
        n_classes: int = N_CLASSES,
    ):
        if not len(channels) == len(kernels) == len(pools):
            raise ValueError("channels, kernels and pools need one entry per conv block")
        length = FRAME_LEN
        layers: list[nn.Module] = [
            qnn.QuantHardTanh(act_quant=fixed_range_input_quant(in_bits, -in_range, in_range))
        ]
        c_in = 2
        for c_out, k, p in zip(channels, kernels, pools):
            if k % 2 == 0:
                raise ValueError(f"kernel sizes must be odd to keep the length ('same' padding), got {k}")
            if length % p:
                raise ValueError(f"pool {p} does not divide the sequence length {length}")
            layers += [
                qnn.QuantConv1d(c_in, c_out, k, padding=k // 2, weight_bit_width=w_bits, bias=False),
                nn.BatchNorm1d(c_out),
                qnn.QuantReLU(bit_width=a_bits),
                nn.MaxPool1d(p),
            ]
            c_in, length = c_out, length // p
        layers += [
            nn.Flatten(),
            qnn.QuantLinear(c_in * length, dense, weight_bit_width=w_bits, bias=False),
            nn.BatchNorm1d(dense),
            qnn.QuantReLU(bit_width=a_bits, return_quant_tensor=True),
            qnn.QuantLinear(dense, n_classes, weight_bit_width=w_bits, bias=True, bias_quant=Int32Bias),
        ]
        super().__init__(*layers)

"""The challenge's official baseline: quantized VGG10 for RadioML 2018 (and its finn-examples variants).

Layer indices match the sandbox's nn.Sequential, so the published checkpoint
(shared/reference/vgg10_w8a8_baseline.pth) loads with strict=True. finn-examples' hardware model is the
same network with 32 filters and 4-bit weights and activations (recipe vgg10_w4a4_32f).
"""

from __future__ import annotations

import brevitas.nn as qnn
from brevitas.quant import Int32Bias
from torch import nn

from model.quant import fixed_range_input_quant
from model.radioml import FRAME_LEN, N_CLASSES

N_CONV_BLOCKS = 7


class VGG10(nn.Sequential):
    """Input quantizer; 7 x [QuantConv1d k3, BN, QuantReLU, MaxPool 2]; dense 3 layers, last with int bias."""

    def __init__(
        self,
        filters_conv: int = 64,
        filters_dense: int = 128,
        w_bits: int = 8,
        a_bits: int = 8,
        in_bits: int = 8,
        in_range: float = 2.0,
        n_classes: int = N_CLASSES,
    ):
        layers: list[nn.Module] = [
            qnn.QuantHardTanh(act_quant=fixed_range_input_quant(in_bits, -in_range, in_range))
        ]
        c_in = 2
        for _ in range(N_CONV_BLOCKS):
            layers += [
                qnn.QuantConv1d(c_in, filters_conv, 3, padding=1, weight_bit_width=w_bits, bias=False),
                nn.BatchNorm1d(filters_conv),
                qnn.QuantReLU(bit_width=a_bits),
                nn.MaxPool1d(2),
            ]
            c_in = filters_conv
        flat = filters_conv * (FRAME_LEN // 2**N_CONV_BLOCKS)
        layers += [
            nn.Flatten(),
            qnn.QuantLinear(flat, filters_dense, weight_bit_width=w_bits, bias=False),
            nn.BatchNorm1d(filters_dense),
            qnn.QuantReLU(bit_width=a_bits),
            qnn.QuantLinear(filters_dense, filters_dense, weight_bit_width=w_bits, bias=False),
            nn.BatchNorm1d(filters_dense),
            qnn.QuantReLU(bit_width=a_bits, return_quant_tensor=True),
            qnn.QuantLinear(filters_dense, n_classes, weight_bit_width=w_bits, bias=True, bias_quant=Int32Bias),
        ]
        super().__init__(*layers)

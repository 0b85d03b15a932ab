"""BacalhauNet, the 2021 challenge winner: depthwise-separable 1-D convolutions with large early kernels.

Input QuantHardTanh (8 bits over [-2, 3], learned scale); five blocks of depthwise conv + BN + QuantReLU
then pointwise conv + BN + QuantReLU, with a residual add where stride is 1 and widths match; a global
max pool; one QuantLinear to the 24 classes.

The residual sum of two differently-scaled quantized tensors is a float tensor, so the next depthwise
conv sees a 32-bit input in the challenge's cost: about half of the published bit ops come from that.
`requant_residual=True` puts a QuantIdentity after each add, which removes that cost.

As published, the two operands of each add come from two QuantReLUs with independently learned scales
s_x, s_y, so the sum s_y*a + s_x*b (a, b 6-bit codes) lies on no small common integer grid. compile/
makes it exact in integers all the same (compile/transforms/residual_rescale.py: P1*a + P2*b with the smallest
multipliers that count every threshold of the next layer as the float sum does), but the multipliers
are wide (14-15 bits on the untrained full-size net: 21-22-bit sums into the next depthwise conv, 30-31-bit
accumulators), which costs DSPs and two elementwise multipliers per add. `share_residual_quant=True` quantizes
both operands of each add with one QuantReLU (the block's output activation is the very module that
quantized its input, as Brevitas' ResNet examples do with a shared quantizer): the sum is s*(a + b), a
7-bit integer times one scale, which FINN streams as an integer add. Layers, bit widths and the
challenge's cost are unchanged; one learned scale per residual pair is dropped.

Brevitas (0.13) turns QuantHardTanh(min_val=-2, max_val=3) into a signed 8-bit quantizer with scale
max(|min|, |max|) / 128 and no separate clamp: the input range is [-3, 3 - 3/128], not [-2, 3].
"""

from __future__ import annotations

from collections.abc import Sequence

import brevitas.nn as qnn
from brevitas.quant import Int8ActPerTensorFloat, Int32Bias
from torch import Tensor, nn

from model.radioml import FRAME_LEN, N_CLASSES


class ConvBNReLU(nn.Sequential):
    """`act`: an existing QuantReLU to reuse (a quantizer shared with another tensor), else a new one."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, groups: int, w_bits: int, a_bits: int,
                 act: qnn.QuantReLU | None = None):
        super().__init__(
            qnn.QuantConv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False,
                            weight_bit_width=w_bits),
            nn.BatchNorm1d(c_out),
            act if act is not None else qnn.QuantReLU(bit_width=a_bits),
        )


class DepthwiseSeparable(nn.Module):
    """`out_act`: the QuantReLU that quantized this block's input, to reuse as the output activation
    of a residual block (share_residual_quant)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, w_bits: int, a_bits: int,
                 requant_residual: bool, out_act: qnn.QuantReLU | None = None):
        super().__init__()
        self.residual = stride == 1 and c_in == c_out
        if out_act is not None and not self.residual:
            raise ValueError("a shared output quantizer only makes sense for a residual block")
        self.dw = ConvBNReLU(c_in, c_in, kernel, stride, groups=c_in, w_bits=w_bits, a_bits=a_bits)
        self.pw = ConvBNReLU(c_in, c_out, 1, 1, groups=1, w_bits=w_bits, a_bits=a_bits, act=out_act)
        self.requant = qnn.QuantIdentity(bit_width=a_bits) if (self.residual and requant_residual) else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.pw(self.dw(x))
        if self.residual:
            y = y + x
            if self.requant is not None:
                y = self.requant(y)
        return y


class BacalhauNet(nn.Module):
    def __init__(
        self,
        kernels: Sequence[int] = (27, 21, 15, 9, 9),
        strides: Sequence[int] = (2, 1, 2, 1, 2),
        channels: Sequence[int] = (24, 24, 48, 48, 48),
        w_bits: int = 6,
        a_bits: int = 6,
        in_bits: int = 8,
        in_min: float = -2.0,
        in_max: float = 3.0,
        fc_in_bits: int = 8,
        requant_residual: bool = False,
        share_residual_quant: bool = False,
        n_classes: int = N_CLASSES,
    ):
        super().__init__()
        if not len(kernels) == len(strides) == len(channels):
            raise ValueError("kernels, strides and channels need one entry per block")
        self.hardtanh = qnn.QuantHardTanh(min_val=in_min, max_val=in_max, bit_width=in_bits)
        blocks, c_in, length = [], 2, FRAME_LEN
        in_act = None  # the QuantReLU whose scale the next block's input is on (None: not one QuantReLU's)
        for i, (k, s, c) in enumerate(zip(kernels, strides, channels)):
            out_act = None
            if share_residual_quant and s == 1 and c_in == c:
                if in_act is None:
                    raise ValueError(f"share_residual_quant: the input of residual block {i} is not the output "
                                     "of a QuantReLU (the network input, or a requantized residual sum), so "
                                     "there is no quantizer to share")
                out_act = in_act
            blk = DepthwiseSeparable(c_in, c, k, s, w_bits, a_bits, requant_residual, out_act=out_act)
            blocks.append(blk)
            # an unrequantized residual sum stays on the shared scale; a requantizer starts a new one
            in_act = None if blk.requant is not None else blk.pw[2]
            c_in, length = c, (length + 2 * (k // 2) - k) // s + 1
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.MaxPool1d(length)  # global max pool with a static kernel: exports as MaxPool
        self.flatten = nn.Flatten()
        self.fc = qnn.QuantLinear(c_in, n_classes, bias=True, weight_bit_width=w_bits, bias_quant=Int32Bias,
                                  input_quant=Int8ActPerTensorFloat.let(bit_width=fc_in_bits))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.flatten(self.pool(self.blocks(self.hardtanh(x)))))

"""Brevitas quantizer choices shared by the networks, so every net spells its input quantizer one way."""

from __future__ import annotations

from brevitas.inject.defaults import Int8ActPerTensorFloatMinMaxInit
from brevitas.inject.enum import ScalingImplType


def fixed_range_input_quant(bit_width: int = 8, min_val: float = -2.0, max_val: float = 2.0):
    """Signed input quantizer with a constant range, as the challenge baseline defines it.

    With 8 bits over [-2, 2) the scale is 1/64: the int8 data cache (model/cache.py) holds exactly the
    codes this quantizer produces, so training on cached codes is lossless.
    """
    return Int8ActPerTensorFloatMinMaxInit.let(
        bit_width=bit_width,
        min_val=min_val,
        max_val=max_val,
        scaling_impl_type=ScalingImplType.CONST,
    )


def input_quant_spec(net) -> dict | None:
    """Scale, zero point, bit width and signedness of the network's first activation quantizer.

    None when the first quantized layer sees float input (its input then costs 32 bits per MAC), or when the
    network declares `input_is_float = True` (float pre-processing of the raw frame before any quantizer).
    """
    if getattr(net, "input_is_float", False):
        return None
    for module in net.modules():
        if hasattr(module, "act_quant") and module.act_quant.is_quant_enabled:
            q = module.act_quant
            return {
                "bit_width": int(q.bit_width()),
                "signed": bool(q.is_signed),
                "scale": float(q.scale().detach()),
                "zero_point": float(q.zero_point()),
            }
        if hasattr(module, "weight_quant"):
            return None  # a weight layer came first: its input is not quantized
    return None

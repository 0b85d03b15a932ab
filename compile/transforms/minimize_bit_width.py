"""finn-plus's _minimize_bit_width, with RoundAndClipThresholds also run first.

finn-plus runs MinimizeWeightBitWidth before any rounding and clipping (its Streamline no longer ends with
RoundAndClipThresholds, as upstream FINN's did), and Thresholding.minimize_weight_bit_width asserts that a
layer with an unsigned input has no negative thresholds. A signed quantizer on a non-negative tensor has them
(an INT8 quantizer after ReLU and max pool: half its thresholds are below 0). On integer inputs, ceil and clip
to [min, max + 1] change no output."""
from __future__ import annotations

from qonnx.transformation.base import Transformation


class MinimizeBitWidths(Transformation):
    """Weight, accumulator and threshold widths minimised, in subgraphs too, datatypes inferred between."""

    def apply(self, model):
        from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
        from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
        from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
        from qonnx.transformation.infer_datatypes import InferDataTypes

        for tr in (RoundAndClipThresholds(), InferDataTypes(),
                   MinimizeWeightBitWidth(), MinimizeAccumulatorWidth(), InferDataTypes(),
                   RoundAndClipThresholds(), InferDataTypes(),
                   MinimizeWeightBitWidth(), InferDataTypes()):
            model = model.transform(tr, apply_to_subgraphs=True)
        return model, False

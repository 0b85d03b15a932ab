"""Each MultiThreshold's out_dtype made to hold what it computes.

FINN's QONNX activation handlers (finn/transformation/qonnx/qonnx_activation_handlers.py) turn a signed b-bit
activation Quant into MultiThreshold(out_dtype=INT<b>, out_bias=0) followed by Add(-2^(b-1)) and Mul(scale).
The MultiThreshold counts crossed thresholds, so its output is [0, 2^b - 1] (e.g. [0, 255] for INT8), not the
INT<b> range its annotation promises; only after streamlining's AbsorbScalarBiasIntoMultiThreshold moves the
Add into out_bias does the annotation hold. Until then every pass reading the annotation (InferDataTypes, the
verifier, a later minimisation) sees a wrong type."""
from __future__ import annotations

from qonnx.transformation.base import Transformation


class AnnotateMultiThresholdRange(Transformation):
    """The annotation becomes the smallest integer type of the true range [out_bias, out_bias + n_thresholds]
    (out_scale 1), the same rule the absorption uses, which then restores the signed type when it folds the
    Add in. Annotations that already hold the range are left alone."""

    def apply(self, model):
        from qonnx.core.datatype import DataType
        from qonnx.custom_op.registry import getCustomOp

        for node in model.get_nodes_by_op_type("MultiThreshold"):
            inst = getCustomOp(node)
            odt = DataType[inst.get_nodeattr("out_dtype")]
            scale, bias = inst.get_nodeattr("out_scale"), inst.get_nodeattr("out_bias")
            thr = model.get_initializer(node.input[1])
            if (thr is None or not odt.is_integer() or odt.name == "BIPOLAR" or scale != 1.0
                    or int(bias) != bias):
                continue
            lo, hi = bias, bias + thr.shape[-1]
            if odt.allowed(lo) and odt.allowed(hi):
                continue
            new = (DataType.get_smallest_possible(hi) if lo >= 0
                   else DataType.get_smallest_possible(min(lo, -(hi + 1))))
            inst.set_nodeattr("out_dtype", new.name)
            model.set_tensor_datatype(node.output[0], new)
        return model, False

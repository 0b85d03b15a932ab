"""Global max pooling as one streaming pass: MaxPools whose window covers the whole input become our
StreamingGlobalMaxPool (compile/hwops/global_max_pool.py).

FINN's InferPool would build such a pool as a sliding window generator over the whole frame followed by
Pool; the generator buffers the frame and reads it again, which makes the pool the slowest layer of a
network that ends in one (nn.MaxPool1d over the remaining length, GlobalMaxPool, which
compile/transforms/lift_1d.py turns into that MaxPool). Run before InferPool in step_convert_to_hw.
"""
from __future__ import annotations

from onnx import helper
from qonnx.transformation.base import Transformation
from qonnx.util.basic import get_by_name

DOMAIN = "finn.custom_op.fpgadataflow"


def _ints(node, name):
    attr = get_by_name(node.attribute, name)
    return list(attr.ints) if attr is not None else None


def is_global(model, node) -> bool:
    """A MaxPoolNHWC (N, H, W, C) whose window is the whole input, without padding: one output pixel."""
    shape = model.get_tensor_shape(node.input[0])
    if node.op_type != "MaxPoolNHWC" or shape is None or len(shape) != 4:
        return False
    kernel, pads = _ints(node, "kernel_shape"), _ints(node, "pads") or [0, 0, 0, 0]
    return kernel == list(shape[1:3]) and not any(pads) and model.get_tensor_shape(node.output[0])[1:3] == [1, 1]


class InferStreamingGlobalMaxPool(Transformation):
    """MaxPoolNHWC over the whole (H, W) input, integer input -> StreamingGlobalMaxPool (PE 1; folding
    sets it)."""

    def apply(self, model):
        changed = False
        for i, node in enumerate(list(model.graph.node)):
            if not is_global(model, node):
                continue
            idt = model.get_tensor_datatype(node.input[0])
            if not idt.is_integer():
                continue  # left to InferPool, which names the float input
            _, h, w, c = model.get_tensor_shape(node.input[0])
            new = helper.make_node("StreamingGlobalMaxPool", [node.input[0]], [node.output[0]],
                                   name=f"StreamingGlobalMaxPool_{node.name}", domain=DOMAIN,
                                   backend="fpgadataflow", NumChannels=int(c), PE=1, ImgDims=[int(h), int(w)],
                                   inputDataType=idt.name)
            idx = list(model.graph.node).index(node)
            model.graph.node.remove(node)
            model.graph.node.insert(idx, new)
            model.set_tensor_datatype(node.output[0], idt)
            changed = True
        return model, changed


class InferGlobalAccPool(Transformation):
    """GlobalAveragePool -> FINN's GlobalAccPool (a streaming sum) and a scalar Mul by 1/N, that Mul then
    moved past layout ops and the next MatMul and merged with the scales there (FINN's reorder, collapse
    and absorb passes), so it ends in the host-side output tail or in a threshold instead of sitting
    float between HW layers. Run at the start of step_convert_to_hw, before MatMuls become MVAUs."""

    def apply(self, model):
        import finn.transformation.streamline.absorb as absorb
        from finn.transformation.fpgadataflow.convert_to_hw.global_acc_pool import InferGlobalAccPoolLayer
        from finn.transformation.streamline.collapse_repeated import CollapseRepeatedMul
        from finn.transformation.streamline.reorder import MoveScalarLinearPastInvariants, MoveScalarMulPastMatMul

        if not model.get_nodes_by_op_type("GlobalAveragePool"):
            return model, False
        model = model.transform(InferGlobalAccPoolLayer())
        for tr in (MoveScalarLinearPastInvariants(), absorb.AbsorbTransposeIntoFlatten(),
                   MoveScalarLinearPastInvariants(), MoveScalarMulPastMatMul(), CollapseRepeatedMul(),
                   absorb.AbsorbMulIntoMultiThreshold()):
            model = model.transform(tr)
        return model, False

"""compile/transforms/minimize_bit_width.py: weight and accumulator widths shrink, none grows."""
from __future__ import annotations

from compile_support import step_graph

from compile.transforms.minimize_bit_width import MinimizeBitWidths


def test_bit_widths_shrink_to_what_the_layers_need(tiny_vgg_build):
    from qonnx.core.datatype import DataType
    from qonnx.custom_op.registry import getCustomOp

    before = step_graph(tiny_vgg_build, "convert_to_hw")
    after = before.transform(MinimizeBitWidths())
    widths = []
    for old, new in zip(before.get_nodes_by_op_type("MVAU"), after.get_nodes_by_op_type("MVAU"), strict=True):
        a, b = getCustomOp(old), getCustomOp(new)
        for attr in ("accDataType", "weightDataType"):
            widths.append((DataType[a.get_nodeattr(attr)].bitwidth(), DataType[b.get_nodeattr(attr)].bitwidth()))
    assert widths and all(new <= old for old, new in widths)
    assert any(new < old for old, new in widths)

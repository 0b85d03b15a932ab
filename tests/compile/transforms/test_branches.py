"""compile/transforms/branches.py: one layout transpose per branch of a fork merged into one, so the fork
follows it, the graph computing what it computed."""
from __future__ import annotations

import numpy as np
from compile_support import run_graph
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from compile.transforms.branches import StreamlineBranches


def test_sibling_transposes_of_one_tensor_become_one():
    nodes = [helper.make_node("Transpose", ["x"], ["t1"], perm=[0, 2, 3, 1]),
             helper.make_node("Transpose", ["x"], ["t2"], perm=[0, 2, 3, 1]),
             helper.make_node("Relu", ["t1"], ["r"]), helper.make_node("Neg", ["t2"], ["n"]),
             helper.make_node("Concat", ["r", "n"], ["y"], axis=-1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 1, 6])])
    model = ModelWrapper(qonnx_make_model(graph)).transform(InferShapes())
    merged = model.transform(StreamlineBranches())
    transposes = merged.get_nodes_by_op_type("Transpose")
    assert len(transposes) == 1 and len(merged.find_consumers(transposes[0].output[0])) == 2
    x = np.random.default_rng(0).normal(size=(1, 3, 4, 1)).astype(np.float32)
    np.testing.assert_allclose(run_graph(merged, x), run_graph(model, x))

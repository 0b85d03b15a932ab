"""compile/transforms/detach_input_quant.py: the input quantizer moved to the host, the graph computing the same
on the codes; a quantizer unlike io.json's refused by field."""
from __future__ import annotations

import numpy as np
import pytest
from compile_support import FIXTURES, run_graph
from qonnx.core.modelwrapper import ModelWrapper

from compile.transforms.detach_input_quant import DetachInputQuant, InputQuantError


def test_the_input_quantizer_moves_to_the_host_and_the_graph_computes_the_same_on_codes():
    from compile.iodesc import load_io

    path = FIXTURES / "tiny_vgg" / "model.onnx"
    model, quant = ModelWrapper(str(path)), load_io(path).quant
    codes = np.random.default_rng(0).integers(quant.min_code, quant.max_code + 1, (1, 2, 1024)).astype(np.float32)
    want = run_graph(model, codes * quant.scale)  # the original graph quantizes float I/Q itself
    detached = model.transform(DetachInputQuant(quant))
    assert not detached.get_nodes_by_op_type("Quant")[:1] or detached.find_consumers(
        detached.graph.input[0].name)[0].op_type != "Quant"
    assert detached.get_tensor_datatype(detached.graph.input[0].name).name == quant.finn_datatype
    np.testing.assert_allclose(run_graph(detached, codes), want, rtol=1e-5, atol=1e-5)
    # a graph whose input already is integer codes is left as it is
    again = detached.transform(DetachInputQuant(quant))
    assert again.model.SerializeToString() == detached.model.SerializeToString()


def test_an_input_quantizer_unlike_io_json_is_refused_naming_the_field():
    from dataclasses import replace

    from compile.iodesc import load_io

    path = FIXTURES / "tiny_vgg" / "model.onnx"
    quant = load_io(path).quant
    with pytest.raises(InputQuantError, match="scale: graph 0.015625 vs io.json 0.03125"):
        ModelWrapper(str(path)).transform(DetachInputQuant(replace(quant, scale=2 * quant.scale)))
    with pytest.raises(InputQuantError, match="input.quant is null"):
        ModelWrapper(str(path)).transform(DetachInputQuant(None))

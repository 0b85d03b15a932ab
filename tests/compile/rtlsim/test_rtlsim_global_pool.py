"""StreamingGlobalMaxPool (compile/hwops/global_max_pool.py): a max pool over the whole input becomes our
one-pass layer, whose RTL is verilated and streamed against its Python model at full rate and under
random back-pressure and input gaps, on tiny_bacalhau's global pool and on standalone signed, folded
ones; its cycles per frame are the input's length x channels / PE."""
from __future__ import annotations

import pytest

from compile.runner import artefact_path
from node_checks import check_at_rates, rtl_node_model

pytestmark = pytest.mark.slow




def test_tiny_bacalhau_global_pool_is_one_streaming_pass(tiny_bacalhau_build, tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from compile.finnenv import init_finn

    cfg, _ = tiny_bacalhau_build
    init_finn(cfg.codegen_dir)
    m = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    ops = [n.op_type for n in m.graph.node]
    assert "StreamingGlobalMaxPool_rtl" in ops, ops
    assert not any(o.startswith("Pool") for o in ops), ops  # no sliding window + Pool for it
    node = m.get_nodes_by_op_type("StreamingGlobalMaxPool_rtl")[0]
    inst = getCustomOp(node)
    h, w = inst.get_nodeattr("ImgDims")
    assert inst.get_exp_cycles() == h * w * inst.get_nodeattr("NumChannels") // inst.get_nodeattr("PE")
    check_at_rates(m, node.name, tmp_path / "sim", seed=2)


def _global_pool_model(codegen, *, channels, pe, dims, idt):
    """A graph of one StreamingGlobalMaxPool_rtl node, its HDL generated into `codegen`."""
    return rtl_node_model(codegen, "StreamingGlobalMaxPool_rtl", [1, *dims, channels], [1, 1, 1, channels], idt,
                          NumChannels=channels, PE=pe, ImgDims=list(dims), inputDataType=idt)


@pytest.mark.parametrize("channels,pe,dims,idt", [
    (6, 2, (16, 1), "INT4"),  # three channel folds (running maxima in a memory), signed
    (3, 3, (9, 1), "INT3"),  # one fold, 9-bit beats padded to 16, signed
    (4, 1, (1, 1), "UINT5"),  # one position: the input is the output
])
def test_standalone_global_pool_is_bit_exact(tiny_bacalhau_build, tmp_path, channels, pe, dims, idt):
    from compile.finnenv import init_finn

    cfg, _ = tiny_bacalhau_build
    init_finn(cfg.codegen_dir)  # the registries hold our ops from here on
    m = _global_pool_model(tmp_path / "codegen", channels=channels, pe=pe, dims=dims, idt=idt)
    check_at_rates(m, "StreamingGlobalMaxPool_rtl_0", tmp_path / "sim", seed=2)


def test_only_whole_input_max_pools_become_global(tiny_bacalhau_build):
    """is_global: the window must be the whole (H, W) input with no padding."""
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from compile.transforms.global_pool import is_global

    def pool(kernel, pads, out_w):
        inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 1, 4])
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_w, 1, 4])
        n = helper.make_node("MaxPoolNHWC", ["x"], ["y"], domain="qonnx.custom_op.general", kernel_shape=kernel,
                             strides=kernel, pads=pads)
        m = ModelWrapper(qonnx_make_model(helper.make_graph([n], "p", [inp], [out])))
        return m, m.graph.node[0]

    assert is_global(*pool([8, 1], [0, 0, 0, 0], 1))
    assert not is_global(*pool([2, 1], [0, 0, 0, 0], 4))
    assert not is_global(*pool([8, 1], [1, 0, 1, 0], 1))

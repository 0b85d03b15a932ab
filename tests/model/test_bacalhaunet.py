"""BacalhauNet's share_residual_quant: both operands of each residual add on one quantizer, so that the
sum is an integer times one scale (what FINN needs), with the published architecture and cost."""

import numpy as np
import pytest
import torch

from model.cost import inference_cost_report
from model.export import export_qonnx_model, verify_export
from model.nets import build_net

SMALL = {"kernels": [7, 5, 3, 3], "strides": [2, 1, 1, 2], "channels": [4, 4, 4, 8]}


def _warm(net, seed=0):
    g = torch.Generator().manual_seed(seed)
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(8, 2, 1024, generator=g) * 0.7)
    return net.eval()


def test_default_is_published_and_the_option_shares_one_quantizer_along_a_residual_chain():
    pub = build_net("bacalhaunet", **SMALL)
    acts = [b.pw[2] for b in pub.blocks]
    assert len({id(a) for a in acts}) == 4  # the published net: every block its own output quantizer
    shared = build_net("bacalhaunet", share_residual_quant=True, **SMALL)
    b = shared.blocks
    assert [blk.residual for blk in b] == [False, True, True, False]
    assert b[1].pw[2] is b[0].pw[2] and b[2].pw[2] is b[0].pw[2]  # x, x + y1, x + y1 + y2: one scale
    assert b[3].pw[2] is not b[0].pw[2]
    assert sum(p.numel() for p in shared.parameters()) < sum(p.numel() for p in pub.parameters())


def test_a_requantized_sum_cannot_share_with_the_next_residual():
    with pytest.raises(ValueError, match="share_residual_quant"):
        build_net("bacalhaunet", share_residual_quant=True, requant_residual=True, **SMALL)
    # one residual block after each plain block is fine with requantization
    net = build_net("bacalhaunet", share_residual_quant=True, requant_residual=True,
                    kernels=[7, 5, 3], strides=[2, 1, 2], channels=[4, 4, 8])
    assert net.blocks[1].pw[2] is net.blocks[0].pw[2] and net.blocks[1].requant is not None


def test_export_adds_on_one_scale_at_the_published_cost(tmp_path):
    torch.manual_seed(0)
    pub = _warm(build_net("bacalhaunet", **SMALL))
    torch.manual_seed(0)
    shared = _warm(build_net("bacalhaunet", share_residual_quant=True, **SMALL))
    frames = np.random.default_rng(0).normal(0, 0.7, (2, 2, 1024)).astype(np.float32)
    costs, add_scales = [], []
    for name, net in (("pub", pub), ("shared", shared)):
        path = export_qonnx_model(net, tmp_path / f"{name}.onnx")
        verify_export(net, path, frames)
        from qonnx.core.modelwrapper import ModelWrapper

        m = ModelWrapper(str(path))
        adds = m.get_nodes_by_op_type("Add")
        assert len(adds) == 2
        scales = []
        for t in adds[0].input:  # the first add's operands: two Quant nodes' outputs
            q = m.find_producer(t)
            assert q.op_type == "Quant"
            scales.append(float(np.asarray(m.get_initializer(q.input[1])).reshape(-1)[0]))
        add_scales.append(scales)
        rep = inference_cost_report(path)
        costs.append((rep.total_bops, rep.total_mem_w_bits))
    assert add_scales[0][0] != add_scales[0][1]  # published: two learned scales
    assert add_scales[1][0] == add_scales[1][1]  # shared: one
    assert costs[0] == costs[1]

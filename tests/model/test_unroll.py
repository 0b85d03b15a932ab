"""The exact P-samples-per-clock form of a trained `ours` (issue 16): the same function, the same bit ops,
and a run-like folder compile/ reads (model/nets/unrolled.py, model/unroll.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model.config import CompressConfig, DataConfig, NetConfig, Recipe, StageConfig, TrainConfig
from model.nets.ours import Ours
from model.nets.unrolled import UnrolledOurs, unroll_depthwise

OURS_ARGS = {"w_bits": [8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4], "a_bits": [8, 6, 6, 6, 4, 4, 4, 4, 4, 4]}


def _settled_ours(seed: int = 0, prune: float = 0.0) -> Ours:
    """A P = 1 `ours` with BatchNorm and activation statistics from random frames, optionally with a share of
    its conv weights zeroed (as pruning leaves them)."""
    torch.manual_seed(seed)
    net = Ours(**OURS_ARGS).train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(32, 2, 1024) * 0.7)
        for m in net.features:
            if isinstance(m, torch.nn.Conv1d) and prune:
                m.weight.mul_((torch.rand_like(m.weight) >= prune).float())
    return net.eval()


@pytest.mark.parametrize("p", [2, 4, 8, 32])
@pytest.mark.parametrize("prune", [0.0, 0.6])
def test_the_unrolled_network_computes_the_trained_one_exactly(p, prune):
    net = _settled_ours(seed=p, prune=prune)
    x = torch.randn(16, 2, 1024) * 0.7
    with torch.no_grad():
        want, got = net(x), UnrolledOurs(net, p).eval()(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_an_unrolled_depthwise_layer_holds_the_trained_integers_at_the_trained_scale():
    net = _settled_ours()
    conv = net.features[6]  # block 2's depthwise conv: kernel 15, stride 2, 16 channels
    unrolled = unroll_depthwise(conv, 4)
    assert (unrolled.in_channels, unrolled.out_channels) == (4 * 16, 2 * 16)
    qa, qb = conv.quant_weight(), unrolled.quant_weight()
    assert torch.equal(qa.scale.flatten(), qb.scale.flatten())
    ints = qb.int()
    # output phase r of channel c holds channel c's 15 taps, once each; no weight crosses channels
    for r in range(2):
        for c in (0, 7, 15):
            row = ints[r * 16 + c].reshape(4, 16, -1)
            assert torch.count_nonzero(row[:, [i for i in range(16) if i != c]]) == 0
            assert sorted(row[:, c].flatten()[row[:, c].flatten() != 0].tolist()) == \
                sorted(v for v in qa.int()[c, 0].tolist() if v != 0)


def test_unrolling_refuses_what_it_cannot_unroll():
    with pytest.raises(ValueError, match="polyphase 1"):
        UnrolledOurs(Ours(polyphase=8), 8)
    with pytest.raises(ValueError, match="power of two"):
        UnrolledOurs(_settled_ours(), 3)
    with pytest.raises(ValueError, match="more than the network's total decimation"):
        UnrolledOurs(_settled_ours(), 64)


def test_the_exported_unrolled_graph_costs_the_same_bit_ops_and_more_bit_mem(tmp_path):
    from model.cost import inference_cost_report
    from model.export import export_qonnx_model, verify_export

    net = _settled_ours(prune=0.5)
    frames = np.random.default_rng(0).normal(0, 0.7, (4, 2, 1024)).astype(np.float32)
    trained = inference_cost_report(export_qonnx_model(net, tmp_path / "p1.onnx"))
    unrolled_net = UnrolledOurs(net, 8).eval()
    path = export_qonnx_model(unrolled_net, tmp_path / "p8.onnx")
    assert verify_export(unrolled_net, path, frames)["top1_agreement"] == 1.0
    unrolled = inference_cost_report(path)
    assert unrolled.total_bops == pytest.approx(trained.total_bops, rel=1e-9)
    # blocks 1-2 store their weights once per output phase: 4x, 4x, 2x, 2x the trained layers' bits
    mems = [r.mem_w_bits for r in trained.layers]
    assert unrolled.total_mem_w_bits == pytest.approx(
        trained.total_mem_w_bits + 3 * mems[0] + 3 * mems[1] + mems[2] + mems[3], rel=1e-9)


def test_the_cli_writes_a_run_folder_of_the_unrolled_network(toy_h5, tmp_path):
    from model.pipeline import run_pipeline
    from model.unroll import main

    recipe = Recipe(
        name="tiny-ours",
        data=DataConfig(path=str(toy_h5), synthetic_frames_per_block=None, cache_dir=str(tmp_path / "cache")),
        net=NetConfig(name="ours", args=OURS_ARGS),
        train=TrainConfig(epochs=1, batch_size=128, lr=0.01, scheduler="cosine", threads=2, max_frames_per_epoch=512),
        compress=CompressConfig(stages=[StageConfig(kind="magnitude", fraction=0.5, max_steps=1, max_val_drop=None,
                                                    exclude=["features.0"])]),
    )
    recipe.compress.stages[0].finetune.epochs = 1
    run = run_pipeline(recipe, tmp_path / "run", progress=False)
    out = tmp_path / "unrolled"
    assert main([str(run.root), "--polyphase", "8", "--out", str(out), "--json"]) == 0
    report = json.loads((out / "unroll.json").read_text())
    assert report["top1_agreement"] == 1.0 and report["max_abs_logit_diff"] < 1e-4
    assert report["accuracy"] == json.loads(run.metrics.read_text())["accuracy"]
    assert report["cost"]["bit_ops"] == pytest.approx(report["source_cost"]["bit_ops"], rel=1e-9)
    assert report["cost"]["bit_mem"] > report["source_cost"]["bit_mem"]
    for name in ("model.onnx", "io.json", "cost.json", "metrics.json", "predictions.npz", "recipe.yaml", "data.json"):
        assert (out / name).exists(), name
    with np.load(out / "predictions.npz") as got, np.load(run.predictions) as want:
        np.testing.assert_array_equal(got["predicted"], want["predicted"])
    assert main([str(tmp_path / "nope"), "--polyphase", "8", "--out", str(tmp_path / "x")]) == 2

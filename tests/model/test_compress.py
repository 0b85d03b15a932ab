"""Each compression method on tiny networks and toy data: what it removes, that it stays removed, that
the exported graph and its cost see it, and that a stage undoes a step that costs too much accuracy."""

import json

import numpy as np
import pytest
import torch

from model.compress.channels import layer_widths, prune_channels, shrink_to_state
from model.compress.objectives import distillation_loss, make_objective
from model.compress.pruning import (
    global_magnitude_prune, load_pruned_state_dict, make_pruning_permanent, sparsity_report, threshold_prune,
)
from model.config import CompressConfig, from_dict
from model.cost import inference_cost_report
from model.export import export_qonnx_model, verify_export
from model.nets import build_net
from model.pipeline import run_pipeline
from test_pipeline import tiny_recipe

SMALL = {"channels": [8, 16, 16, 16], "dense": 32}


def warmed(name="compact", **kw):
    """A network after a few training-mode forwards (activation statistics collected)."""
    torch.manual_seed(0)
    net = build_net(name, **kw)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(16, 2, 1024))
    return net.eval()


def test_distillation_term_vanishes_when_student_matches_teacher():
    logits = torch.randn(8, 24)
    assert distillation_loss(logits, logits, 4.0).abs().item() < 1e-6
    assert distillation_loss(logits, torch.randn(8, 24), 4.0).item() > 0


def test_objective_adds_auxiliary_heads_and_distillation():
    x, y = torch.randn(4, 2, 1024), torch.randint(0, 24, (4,))
    main, aux = torch.randn(4, 24), torch.randn(4, 24)

    class TwoHeads(torch.nn.Module):
        def forward(self, _):
            return main, [aux]

    ce = torch.nn.functional.cross_entropy
    assert make_objective([0.5])(TwoHeads(), x, y).item() == pytest.approx((ce(main, y) + 0.5 * ce(aux, y)).item())

    class Teacher(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def forward(self, _):
            return main + self.p

    with_kd = make_objective([], teacher=Teacher(), alpha=0.5)(TwoHeads(), x, y)
    assert with_kd.item() == pytest.approx((0.5 * ce(main, y) + ce(aux, y)).item(), rel=1e-5)


def effective(m):
    """A layer's weights as its next forward pass will see them."""
    return m.weight_orig * m.weight_mask if hasattr(m, "weight_mask") else m.weight


def layers(net):
    return [m for m in net.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Linear))]


def test_global_magnitude_pruning_removes_the_fraction_of_remaining_weights_and_keeps_the_largest():
    net = warmed(**SMALL)
    largest = [m.weight.abs().max().item() for m in layers(net)]
    total = sum(m.weight.numel() for m in layers(net))
    first = global_magnitude_prune(net, 0.3)
    second = global_magnitude_prune(net, 0.3)
    assert first == pytest.approx(0.3 * total, abs=2)
    assert second == pytest.approx(0.3 * (total - first), abs=2)
    assert sum(int(torch.count_nonzero(effective(m))) for m in layers(net)) == total - first - second
    # Brevitas' per-tensor weight scale comes from max |w|, which pruning never removes
    assert [effective(m).abs().max().item() for m in layers(net)] == largest
    # the cost function also drops weights that quantize to zero: never more non-zeros than the masks keep
    assert sparsity_report(net)["nonzero"] <= total - first - second


def test_pruned_weights_stay_zero_through_training_and_reach_the_export(tmp_path):
    net = warmed(**SMALL)
    global_magnitude_prune(net, 0.5)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.randn(8, 2, 1024)), torch.randint(0, 24, (8,))).backward()
        opt.step()
    net.eval()
    nonzero = sparsity_report(net)["nonzero"]
    make_pruning_permanent(net)
    assert sparsity_report(net)["nonzero"] == nonzero
    onnx_path = export_qonnx_model(net, tmp_path / "pruned.onnx")
    verify_export(net, onnx_path, np.random.default_rng(0).normal(0, 0.7, (3, 2, 1024)).astype(np.float32))
    assert inference_cost_report(onnx_path).total_mem_w_elems == nonzero  # sparsity discounted


def test_threshold_pruning_zeroes_small_weights_only():
    net = warmed(**SMALL)
    eps = 0.05
    small_before = sum(int((m.weight.abs() < eps).sum()) for m in layers(net))
    pruned = threshold_prune(net, eps)
    assert pruned >= small_before > 0
    for m in layers(net):
        w = effective(m)
        assert torch.all((w == 0) | (w.abs() >= eps))


def test_masked_state_dicts_load_into_fresh_networks():
    net = warmed(**SMALL)
    global_magnitude_prune(net, 0.4)
    state = net.state_dict()
    assert any(k.endswith("weight_mask") for k in state)
    fresh = build_net("compact", **SMALL).eval()
    load_pruned_state_dict(fresh, state)
    x = torch.randn(2, 2, 1024)
    assert torch.equal(net(x), fresh(x))


@pytest.mark.parametrize("name,kw", [("compact", SMALL), ("bacalhaunet", {"channels": [8, 8, 16, 16, 16]})])
def test_channel_pruning_narrows_layers_and_rebuilds_from_the_state_dict(name, kw, tmp_path):
    net = warmed(name, **kw)
    changed = prune_channels(net, 0.25)
    assert changed and all(after < before for before, after in changed.values())
    if name == "bacalhaunet":  # the depthwise conv on the I/Q input and the classifier keep their widths
        assert layer_widths(net)["blocks.0.dw.0"] == 2 and layer_widths(net)["fc"] == 24
    state = {k: v.clone() for k, v in net.state_dict().items()}
    fresh = build_net(name, **kw)
    shrink_to_state(fresh, state)
    fresh.load_state_dict(state)
    fresh.eval()
    x = torch.randn(2, 2, 1024)
    assert torch.allclose(net(x), fresh(x))
    onnx_path = export_qonnx_model(fresh, tmp_path / "narrow.onnx")
    verify_export(fresh, onnx_path, np.random.default_rng(0).normal(0, 0.7, (2, 2, 1024)).astype(np.float32))


def _compress_recipe(toy_h5, tmp_path, stages):
    recipe = tiny_recipe(toy_h5, tmp_path, epochs=1)
    recipe.compress = from_dict(CompressConfig, {"stages": stages})
    return recipe


def test_stages_prune_lower_bits_and_the_cost_sees_it(toy_h5, tmp_path):
    stages = [
        {"kind": "channels", "fraction": 0.25, "finetune": {"epochs": 1}},
        {"kind": "magnitude", "fraction": 0.5, "max_steps": 1, "finetune": {"epochs": 1}},
        {"kind": "bits", "net_args": {"w_bits": 3}, "finetune": {"epochs": 1}},
    ]
    run = run_pipeline(_compress_recipe(toy_h5, tmp_path, stages), tmp_path / "run", progress=False)
    summary = json.loads(run.compress_summary.read_text())
    assert [s["kind"] for s in summary["steps"]] == ["channels", "magnitude", "bits"]
    assert all(s["accepted"] for s in summary["steps"])
    assert summary["final_net"]["args"]["w_bits"] == 3
    assert summary["sparsity"]["density"] == pytest.approx(0.5, abs=0.01)
    cost = json.loads(run.cost.read_text())
    assert {layer["weight_dtype"] for layer in cost["layers"]} == {"SCALEDINT<3>"}
    assert cost["total_mem_w_elems"] == summary["sparsity"]["nonzero"]


def test_a_step_below_the_floor_is_undone_and_a_rerun_skips_finished_steps(toy_h5, tmp_path):
    stages = [{"kind": "magnitude", "fraction": 0.9, "max_steps": 2, "min_val_acc": 1.01,
               "finetune": {"epochs": 1}}]
    recipe = _compress_recipe(toy_h5, tmp_path, stages)
    run = run_pipeline(recipe, tmp_path / "run", last="compress", progress=False)
    steps = json.loads(run.compress_summary.read_text())["steps"]
    assert len(steps) == 1 and not steps[0]["accepted"]  # rejected, and the stage stopped there
    best = torch.load(run.best, weights_only=True)["model"]
    final = torch.load(run.final, weights_only=True)["model"]
    assert best.keys() == final.keys() and all(torch.equal(best[k], final[k]) for k in best)
    done = run.compress / "01_magnitude" / "step_01" / "done.json"
    stamp = done.stat().st_mtime_ns
    run_pipeline(recipe, tmp_path / "run", first="compress", last="compress", progress=False)
    assert done.stat().st_mtime_ns == stamp

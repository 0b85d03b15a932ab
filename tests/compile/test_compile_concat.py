"""1-D graphs with Concat and global pooling (AaronNet32++'s ops, which qonnx's Change3DTo4DTensors
refuses): tiny_concat compiles with every step verified, the Concat streams as FINN's StreamingConcat and
the global pool as our one-pass StreamingGlobalMaxPool (a GlobalAveragePool as FINN's GlobalAccPool);
lift_1d's rules on hand-made graphs."""
from __future__ import annotations

import json

import pytest
from compile_support import VERIFY_FRAMES, build
from compile.runner import artefact_path
from compile.steps import STEP_NAMES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_concat_build(tmp_path_factory):
    return build(tmp_path_factory.mktemp("builds"), "tiny_concat")


def test_tiny_concat_compiles_with_every_step_verified(tiny_concat_build):
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, _ = tiny_concat_build
    src = ModelWrapper(str(cfg.model_path))
    assert {"Concat", "GlobalMaxPool"} <= {n.op_type for n in src.graph.node}  # the fixture holds both
    _verified_every_step(cfg)
    m = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    ops = {n.op_type.rsplit("_", 1)[0] for n in m.graph.node}
    assert {"StreamingConcat", "StreamingGlobalMaxPool", "MVAU"} <= ops, ops
    assert "Pool" not in ops


def _verified_every_step(cfg):
    recs = json.loads((cfg.report_dir / "steps.json").read_text())
    assert [r["step"] for r in recs] == STEP_NAMES
    for r in recs:
        v = r["verification"]
        assert v["passed"], (r["step"], v["problems"])
        assert v["top1_agree"] + v["top1_ties"] >= VERIFY_FRAMES
    part = STEP_NAMES.index("create_dataflow_partition")
    assert all(r["verification"]["int_output_exact"] is True for r in recs[part:])


def test_global_average_pool_streams_as_global_acc_pool(tmp_path):
    """tiny_concat with its GlobalMaxPool made a GlobalAveragePool: FINN's GlobalAccPool, the 1/N scale
    merged into the host-side output tail, every step verified."""
    import shutil

    import onnx
    from compile_support import FIXTURES
    from qonnx.core.modelwrapper import ModelWrapper

    from compile.config import make_config
    from compile.runner import run_build

    src = tmp_path / "tiny_concat_avg"
    src.mkdir()
    shutil.copy(FIXTURES / "tiny_concat" / "io.json", src / "io.json")
    m = onnx.load(str(FIXTURES / "tiny_concat" / "model.onnx"))
    for n in m.graph.node:
        if n.op_type == "GlobalMaxPool":
            n.op_type = "GlobalAveragePool"
    onnx.save(m, str(src / "model.onnx"))
    cfg = make_config(src, board="zcu104", out_dir=tmp_path / "build", verify_frames=VERIFY_FRAMES)
    run_build(cfg, log=lambda msg: None)
    _verified_every_step(cfg)
    hw = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    assert "GlobalAccPool" in {n.op_type.rsplit("_", 1)[0] for n in hw.graph.node}


def _graph(nodes, shapes, inits=None):
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    vi = {k: helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in shapes.items()}
    m = ModelWrapper(qonnx_make_model(helper.make_graph(nodes, "g", [vi["x"]], [vi["y"]])))
    for k, v in (inits or {}).items():
        m.set_initializer(k, v)
    return m


def test_lift_keeps_values_of_concat_and_global_pools():
    """Concat (negative axis), GlobalMaxPool, GlobalAveragePool and a Mul on (N, C, W) -> 4-D, same values."""
    import numpy as np
    from onnx import helper
    from qonnx.core.onnx_exec import execute_onnx

    from compile.transforms.lift_1d import LiftTo4D

    nodes = [helper.make_node("Mul", ["x", "s"], ["a"]),
             helper.make_node("Concat", ["x", "a"], ["c"], axis=-2),
             helper.make_node("GlobalMaxPool", ["c"], ["g"]),
             helper.make_node("GlobalAveragePool", ["c"], ["h"]),
             helper.make_node("Add", ["g", "h"], ["y"])]
    from qonnx.transformation.infer_shapes import InferShapes

    m = _graph(nodes, {"x": [1, 3, 16], "y": [1, 6, 1]}, {"s": np.full((1, 3, 1), -2.0, np.float32)})
    m = m.transform(InferShapes())
    x = np.random.default_rng(0).normal(size=(1, 3, 16)).astype(np.float32)
    want = execute_onnx(m, {"x": x})["y"]
    lifted = m.transform(LiftTo4D())
    assert lifted.get_tensor_shape("x") == [1, 3, 16, 1] and lifted.get_tensor_shape("y") == [1, 6, 1, 1]
    assert [n.op_type for n in lifted.graph.node] == ["Mul", "Concat", "MaxPool", "GlobalAveragePool", "Add"]
    got = execute_onnx(lifted, {"x": x[..., None]})["y"]
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-6)


def test_lift_names_an_op_it_has_no_rule_for():
    from onnx import helper

    from compile.transforms.lift_1d import LiftError, LiftTo4D

    m = _graph([helper.make_node("Softsign", ["x"], ["y"])], {"x": [1, 2, 8], "y": [1, 2, 8]})
    with pytest.raises(LiftError, match="Softsign"):
        m.transform(LiftTo4D())

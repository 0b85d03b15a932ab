"""Unrolled depthwise convs as VVAUs (compile/transforms/unrolled_depthwise.py): the structure is found only where it
is, the build keeps every step exact, and the stitched accelerator is bit-exact in RTL simulation."""
from __future__ import annotations

import json

import numpy as np
import pytest
from compile_support import build
from compile.runner import artefact_path
from compile.transforms.unrolled_depthwise import phase_structure


def _unrolled_weight(rng, taps: int, q: int, c: int, r: int) -> np.ndarray:
    """A (taps·q·c) x (r·c) matrix connecting channel c of every input phase to channel c of every output."""
    w = np.zeros((taps, q, c, r, c), np.float32)
    for ch in range(c):
        w[:, :, ch, :, ch] = rng.integers(-7, 8, (taps, q, r))
    return w.reshape(taps * q * c, r * c)


def test_the_phase_structure_is_found_where_it_is_and_only_there():
    rng = np.random.default_rng(0)
    assert phase_structure(_unrolled_weight(rng, 3, 4, 8, 2), 3) == (8, 4, 2)
    assert phase_structure(_unrolled_weight(rng, 5, 2, 24, 1), 5) == (24, 2, 1)
    assert phase_structure(rng.integers(-7, 8, (3 * 16, 8)).astype(np.float32), 3) is None  # a dense conv
    assert phase_structure(_unrolled_weight(rng, 5, 8, 2, 4), 5) is None  # the I/Q stem: kept dense
    w = _unrolled_weight(rng, 3, 4, 8, 2)
    w[0, 1] = 1.0  # one weight across channels: not a depthwise conv any more
    assert phase_structure(w, 3) is None


@pytest.fixture(scope="module")
def unrolled_build(tmp_path_factory):
    return build(tmp_path_factory.mktemp("unrolled"), "tiny_unrolled")


def test_each_output_phase_becomes_a_vvau_and_every_step_stays_exact(unrolled_build):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from compile.folding import base_op

    cfg, result = unrolled_build
    assert all(r["verification"]["passed"] for r in result["steps"])
    model = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    ops = [base_op(n.op_type) for n in model.graph.node]
    vvaus = [getCustomOp(n) for n in model.graph.node if base_op(n.op_type) == "VVAU"]
    # block 2: 4 phases of 4 channels into 2 (kernel 5 samples = 3 steps); block 3: 2 phases of 8 into 1
    assert sorted((v.get_nodeattr("Kernel"), v.get_nodeattr("Channels")) for v in vvaus) == \
        [([3, 2], 8), ([3, 4], 4), ([3, 4], 4)]
    assert all(v.get_nodeattr("PE") == v.get_nodeattr("Channels") for v in vvaus)  # natural-order input
    assert "DuplicateStreams" in ops and "StreamingConcat" in ops
    join = next(getCustomOp(n) for n in model.graph.node if base_op(n.op_type) == "StreamingConcat")
    assert join.is_zip()  # both phases in one beat: one step per cycle, not two
    assert ops.count("MVAU") == 5  # the I/Q stem (2 channels) stays dense; three pointwise convs; classifier
    rep = json.loads((cfg.out_dir / "report.json").read_text())
    assert rep["throughput"]["input_samples_per_beat"] == 8


def test_the_stitched_unrolled_accelerator_is_bit_exact(unrolled_build, tmp_path):
    from compile_support import copy_build
    from compile.rtlsim.accelerator import simulate_accelerator

    cfg = copy_build(unrolled_build[0], tmp_path)
    sec = simulate_accelerator(cfg, frames=4, size_fifos=False, log=lambda m: None)
    assert sec["bit_exact"]
    assert sec["cycles_per_frame"] < 1024 / 6  # 128 steps of 8 samples, each in about a cycle
    assert sec["cycles_per_frame"] == pytest.approx(sec["estimate"]["cycles_per_frame"], rel=0.1)

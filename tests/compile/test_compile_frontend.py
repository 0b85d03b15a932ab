"""FINN's front end on what BacalhauNet has: signed activation quantizers on non-negative tensors, and
residual adds (tests/fixtures/compile/tiny_bacalhau*, made by scripts/make_compile_fixtures.py)."""
import json

import pytest
from compile_support import FIXTURES
from compile.config import make_config
from compile.runner import artefact_path, run_build


def test_signed_quantizer_multithreshold_is_annotated_with_what_it_computes(tmp_path):
    """FINN's QONNX handlers turn a signed b-bit activation Quant into MultiThreshold(out_dtype INT<b>)
    + Add(-2^(b-1)) + Mul: the MultiThreshold counts thresholds, [0, 2^b - 1], which INT<b> does not
    hold (the verifier saw INT8 holding 128..140). The step annotates the count's true type; the
    verification of the step (integer tensors inside their types) passes."""
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    cfg = make_config(FIXTURES / "tiny_bacalhau_rq", out_dir=tmp_path / "b", verify_frames=4,
                      stop_step="qonnx_to_finn")
    run_build(cfg, log=lambda m: None)
    recs = json.loads((cfg.report_dir / "steps.json").read_text())
    assert [(r["step"], r["verification"]["passed"]) for r in recs] == [
        ("detach_input_quant", True), ("qonnx_to_finn", True)]
    m = ModelWrapper(str(artefact_path(cfg, "qonnx_to_finn")))
    signed_ones = []
    for node in m.get_nodes_by_op_type("MultiThreshold"):
        inst = getCustomOp(node)
        n_thr = m.get_initializer(node.input[1]).shape[-1]
        lo = inst.get_nodeattr("out_bias")
        dt = DataType[inst.get_nodeattr("out_dtype")]
        assert dt.allowed(lo) and dt.allowed(lo + n_thr), (node.name, dt.name, lo, n_thr)
        assert m.get_tensor_datatype(node.output[0]) == dt
        nxt = m.find_consumer(node.output[0])
        if nxt is not None and nxt.op_type == "Add":  # a signed quantizer's bias, not yet absorbed
            signed_ones.append((n_thr, dt.name, float(m.get_initializer(nxt.input[1]))))
    # the signed 6-bit requantizer after the residual add and the classifier's signed 8-bit input
    assert sorted(signed_ones) == [(63, "UINT6", -32.0), (255, "UINT8", -128.0)]


def test_residual_add_on_two_scales_streams_as_an_exact_integer_add(tmp_path):
    """As published, BacalhauNet's residual operands come from two QuantReLUs with their own learned
    scales. The streamline step puts both on one integer grid (compile/transforms/residual_rescale.py), exact for
    every threshold of the next layer's quantizer, so the whole build runs with every step verified and
    the accelerator's integer output bit-exact from the partition on."""
    import numpy as np
    from qonnx.core.modelwrapper import ModelWrapper

    from compile.steps import STEP_NAMES
    from compile.transforms.residual_rescale import recorded

    src = ModelWrapper(str(FIXTURES / "tiny_bacalhau_unshared" / "model.onnx"))
    add = src.get_nodes_by_op_type("Add")[0]
    scales = []
    for t in add.input:
        q = src.find_producer(t)
        assert q.op_type == "Quant"
        scales.append(float(np.asarray(src.get_initializer(q.input[1])).reshape(-1)[0]))
    assert not np.isclose(scales[0], scales[1])

    cfg = make_config(FIXTURES / "tiny_bacalhau_unshared", out_dir=tmp_path / "b", verify_frames=4)
    run_build(cfg, log=lambda m: None)
    recs = json.loads((cfg.report_dir / "steps.json").read_text())
    assert [r["step"] for r in recs] == STEP_NAMES
    assert all(r["verification"]["passed"] for r in recs), [r["verification"]["problems"] for r in recs]
    part = STEP_NAMES.index("create_dataflow_partition")
    assert all(r["verification"]["int_output_exact"] is True for r in recs[part:])
    (o,) = recorded(ModelWrapper(str(artefact_path(cfg, "streamline"))))
    assert o.done and sorted(o.scales) == pytest.approx(sorted(scales))
    m = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    add = next(n for n in m.graph.node if n.op_type.startswith("ElementwiseAdd"))
    muls = [m.find_producer(t) for t in add.input]
    assert all(p.op_type.startswith("ElementwiseMul") for p in muls)
    assert all(m.get_tensor_datatype(t).name == "UINT6" for p in muls for t in p.input[:1])
    assert m.get_tensor_datatype(add.output[0]).is_integer()

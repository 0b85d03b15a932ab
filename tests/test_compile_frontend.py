"""FINN's front end on what BacalhauNet has: signed activation quantizers on non-negative tensors, and
residual adds (tests/fixtures/compile/tiny_bacalhau*, made by scripts/make_compile_fixtures.py)."""
import json

import pytest
from compile_support import FIXTURES

from compile.config import make_config
from compile.runner import run_build
from compile.steps import StepError


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
    m = ModelWrapper(str(cfg.steps_dir / "02_qonnx_to_finn.onnx"))
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


def test_residual_add_on_two_scales_is_named_with_its_scales(tmp_path):
    """As published, BacalhauNet's residual operands come from two QuantReLUs with their own learned
    scales: the float sum cannot enter the accelerator, and the error says which add and why."""
    import numpy as np
    from qonnx.core.modelwrapper import ModelWrapper

    src = ModelWrapper(str(FIXTURES / "tiny_bacalhau_unshared" / "model.onnx"))
    add = src.get_nodes_by_op_type("Add")[0]
    scales = []
    for t in add.input:
        q = src.find_producer(t)
        assert q.op_type == "Quant"
        scales.append(float(np.asarray(src.get_initializer(q.input[1])).reshape(-1)[0]))
    assert not np.isclose(scales[0], scales[1])

    cfg = make_config(FIXTURES / "tiny_bacalhau_unshared", out_dir=tmp_path / "b", verify_frames=2)
    with pytest.raises(StepError) as e:
        run_build(cfg, log=lambda m: None)
    assert e.value.step == "create_dataflow_partition"
    msg = str(e.value)
    assert "different scales" in msg and "shared quantizer" in msg
    assert all(f"{s:.6g}" in msg for s in scales), (scales, msg)
    recs = json.loads((cfg.report_dir / "steps.json").read_text())
    assert all(r["verification"]["passed"] for r in recs)  # a mapping limit, not a wrong conversion

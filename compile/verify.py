"""Verification of each step's graph against the original QONNX model, in Python.

A batch of frames (random float I/Q in the quantizer's range) is quantized to input codes with the
numbers of io.json. The original QONNX model sees the float frames (its own input Quant node quantizes
them); every step's graph sees the codes, since the first step moves the quantizer to the host.

Checks, per step:
- final outputs (logits, after the host-side float tail) match the QONNX model's: top-1 identical
  (a frame whose two best reference logits are closer than the tolerance counts as a tie and is not
  held against the step) and every logit within tolerance;
- every activation tensor with an integer FINN datatype annotation holds integers inside that type,
  and every MVAU/VVAU accumulator fits its accDataType (catches a bit width minimised too far);
- from create_dataflow_partition on: the accelerator's integer output is bit-exact with the output
  recorded at create_dataflow_partition (which was itself checked through the parent graph).

HLS/RTL-specialised layers (after specialize_layers) cannot run in Python; they are executed through
finn-plus's Python reference of the same layer (e.g. MVAU_rtl runs as MVAU with the same weights,
thresholds, datatypes and folding). cppsim/rtlsim of the generated sources needs Vivado/Vitis HLS and
is left to finn-plus's own builder where those exist.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from amc_cli import ConstraintMissed

CHILD_ROLE = "dataflow_child"


class VerificationError(ConstraintMissed, RuntimeError):
    def __init__(self, step: str, message: str, details: dict | None = None):
        self.step = step
        self.details = details or {}
        super().__init__(f"verification failed after step '{step}': {message}")


@dataclass
class StepCheck:
    step: str
    frames: int
    passed: bool
    top1_agree: int = 0
    top1_ties: int = 0
    max_abs_err: float = 0.0
    tolerance: float = 0.0
    int_output_exact: bool | None = None
    problems: list[str] = field(default_factory=list)
    mode: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def make_frames(quant, n: int, shape: list[int], seed: int) -> np.ndarray:
    """Float I/Q frames covering the quantizer's range: uniform over it, RadioML-like small
    Gaussian amplitudes, and a few samples beyond the range to exercise clipping."""
    rng = np.random.default_rng(seed)
    lo, hi = (quant.min, quant.max) if quant is not None else (-2.0, 2.0)
    span = hi - lo
    fshape = (n, *shape[1:])
    x = rng.uniform(lo, hi, size=fshape)
    gauss = rng.normal(0.0, span / 16, size=fshape)
    half = n // 2
    x[half:] = gauss[half:]
    mask = rng.random(fshape) < 0.01
    x[mask] = rng.choice([lo - span / 8, hi + span / 8], size=int(mask.sum()))
    return x.astype(np.float32)


def generalize(model):
    """A copy whose HLS/RTL-specialised nodes are their generic HW op again, for Python execution."""
    from qonnx.core.modelwrapper import ModelWrapper

    g = ModelWrapper(copy.deepcopy(model.model))
    for node in g.graph.node:
        dom = node.domain
        if dom.endswith(".hls") or dom.endswith(".rtl"):
            node.domain = dom.rsplit(".", 1)[0]
            node.op_type = node.op_type.rsplit("_", 1)[0]
    return g


def _int_dtype_problems(model, ctx: dict, prefix: str = "") -> list[str]:
    """Integer-annotated activation tensors must hold integers inside their datatype."""
    problems = []
    inits = {t.name for t in model.graph.initializer}
    names = [o for n in model.graph.node for o in n.output] + [i.name for i in model.graph.input]
    for name in names:
        if name in inits or (prefix + name) not in ctx:
            continue
        dt = model.get_tensor_datatype(name)
        if dt is None or not dt.is_integer():
            continue
        v = np.asarray(ctx[prefix + name])
        if v.size == 0:
            continue
        if not np.all(v == np.round(v)):
            problems.append(f"tensor {name} annotated {dt.name} holds non-integers")
        elif v.min() < dt.min() or v.max() > dt.max():
            problems.append(
                f"tensor {name} annotated {dt.name} [{dt.min()}, {dt.max()}] holds values in "
                f"[{v.min():g}, {v.max():g}]"
            )
    return problems


def _accumulator_problems(gmodel, ctx: dict, prefix: str = "") -> list[str]:
    """MVAU/VVAU accumulators (matmul before thresholds) must fit accDataType."""
    from qonnx.core.datatype import DataType
    from qonnx.custom_op.registry import getCustomOp

    problems = []
    for node in gmodel.graph.node:
        if node.op_type not in ("MVAU", "VVAU"):
            continue
        inst = getCustomOp(node)
        try:
            acc_dt = DataType[inst.get_nodeattr("accDataType")]
        except Exception:
            continue
        if inst.get_nodeattr("noActivation") != 0:  # the output is the accumulator
            if prefix + node.output[0] not in ctx:
                continue
            acc = np.asarray(ctx[prefix + node.output[0]])
        else:  # recompute the matmul before the thresholds
            local = {}
            for t in list(node.input) + list(node.output):
                if prefix + t in ctx:
                    local[t] = ctx[prefix + t]
                elif gmodel.get_initializer(t) is not None:
                    local[t] = gmodel.get_initializer(t)
            if node.output[0] not in local or node.input[0] not in local:
                continue
            inst.set_nodeattr("noActivation", 1)
            try:
                # same output shape: the accumulator has as many channels as the activation
                inst.execute_node(local, gmodel.graph)
                acc = local[node.output[0]]
            finally:
                inst.set_nodeattr("noActivation", 0)
        if acc.min() < acc_dt.min() or acc.max() > acc_dt.max():
            problems.append(
                f"{node.name}: accumulator values [{acc.min():g}, {acc.max():g}] overflow "
                f"accDataType {acc_dt.name}"
            )
    return problems


class Verifier:
    """Holds the reference data of a build (verify/reference.npz) and checks step artefacts."""

    def __init__(self, cfg, partition_artefact: Path | None = None):
        self.cfg = cfg
        self.partition_artefact = partition_artefact
        self.dir = cfg.verify_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ref_path = self.dir / "reference.npz"
        self.golden_path = self.dir / "golden_partition.npz"
        self._load_or_make_reference()
        self.golden = None
        if self.golden_path.is_file():
            self.golden = np.load(self.golden_path)["int_out"]

    # ---- reference ---------------------------------------------------------------------
    def _load_or_make_reference(self) -> None:
        cfg = self.cfg
        meta = {"model": str(Path(cfg.model_path).resolve()), "frames": cfg.verify_frames,
                "seed": cfg.verify_seed}
        if self.ref_path.is_file():
            d = np.load(self.ref_path, allow_pickle=False)
            if json.loads(str(d["meta"])) == meta:
                self.frames, self.codes, self.ref = d["frames"], d["codes"], d["logits"]
                return
        self.golden_path.unlink(missing_ok=True)  # recorded on other frames
        from finn.core.onnx_exec import execute_onnx
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.util.cleanup import cleanup_model

        orig = cleanup_model(ModelWrapper(str(cfg.model_path)))
        q = cfg.io.quant
        self.frames = make_frames(q, cfg.verify_frames, cfg.io.input_shape, cfg.verify_seed)
        self.codes = q.quantize(self.frames) if q is not None else self.frames.copy()
        iname, oname = orig.graph.input[0].name, orig.graph.output[0].name
        outs = []
        for f in self.frames:
            outs.append(execute_onnx(orig, {iname: f[None]})[oname].reshape(-1))
        self.ref = np.stack(outs).astype(np.float32)
        np.savez(self.ref_path, frames=self.frames, codes=self.codes, logits=self.ref,
                 meta=json.dumps(meta))

    @property
    def tolerance(self) -> float:
        return float(1e-4 * (1.0 + np.abs(self.ref).max()))

    # ---- execution ---------------------------------------------------------------------
    def _shape_input(self, model, codes: np.ndarray) -> np.ndarray:
        """One frame of codes (C, L) in the layout of the graph's input tensor."""
        from .transforms.inputview import polyphase_of, polyphase_view

        iname = model.graph.input[0].name
        ishape = [int(d) for d in model.get_tensor_shape(iname)]
        codes = polyphase_view(codes[None], polyphase_of(model))[0]
        c, length = codes.shape
        if int(np.prod(ishape)) != c * length:
            raise ValueError(f"graph input {iname} has shape {ishape}, frames are ({c}, {length})")
        if len(ishape) >= 2 and ishape[1] == c:  # channels first: NCW or NCHW
            return codes.reshape(ishape)
        if ishape[-1] == c:  # channels last: NWC / NHWC
            return codes.T.reshape(ishape)
        raise ValueError(f"cannot map frames ({c}, {length}) onto graph input shape {ishape}")

    def _run_plain(self, model):
        from finn.core.onnx_exec import execute_onnx

        gm = generalize(model)
        iname, oname = gm.graph.input[0].name, gm.graph.output[0].name
        outs, problems = [], []
        for code in self.codes:
            ctx = execute_onnx(gm, {iname: self._shape_input(gm, code)}, True)
            outs.append(ctx[oname].reshape(-1))
            if not problems:
                problems += _int_dtype_problems(gm, ctx)
                problems += _accumulator_problems(gm, ctx)
        return np.stack(outs), None, problems

    def _run_child(self, child):
        from finn.core.onnx_exec import execute_onnx
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.custom_op.registry import getCustomOp

        parent_path = self.cfg.parent_path
        if not parent_path.is_file():
            raise FileNotFoundError(f"{parent_path} (written by create_dataflow_partition) is missing")
        gchild = generalize(child)
        child_path = self.dir / "_exec_child.onnx"
        gchild.save(str(child_path))
        parent = ModelWrapper(str(parent_path))
        sdp_node = parent.get_nodes_by_op_type("StreamingDataflowPartition")[0]
        sdp = getCustomOp(sdp_node)
        sdp.set_nodeattr("model", str(child_path.resolve()))
        sdp.set_nodeattr("return_full_exec_context", 1)
        iname, oname = parent.graph.input[0].name, parent.graph.output[0].name
        outs, ints, problems = [], [], []
        prefix = sdp_node.name + "_"
        for code in self.codes:
            ctx = execute_onnx(parent, {iname: self._shape_input(parent, code)}, True)
            outs.append(ctx[oname].reshape(-1))
            ints.append(ctx[sdp_node.output[0]].reshape(-1))
            if not problems:
                # child tensors appear prefixed in the parent's context; its I/O under parent names
                cctx = {k: v for k, v in ctx.items() if k.startswith(prefix)}
                for i, t in enumerate(gchild.graph.input):
                    cctx[prefix + t.name] = ctx[sdp_node.input[i]]
                for i, t in enumerate(gchild.graph.output):
                    cctx[prefix + t.name] = ctx[sdp_node.output[i]]
                problems += _int_dtype_problems(gchild, cctx, prefix)
                problems += _accumulator_problems(gchild, cctx, prefix)
        return np.stack(outs), np.stack(ints), problems

    # ---- the check ---------------------------------------------------------------------
    def _golden_from_partition_artefact(self) -> None:
        """Restarted after the partition on new frames: re-derive the golden integer output from
        create_dataflow_partition's artefact, itself checked against the QONNX model first."""
        from qonnx.core.modelwrapper import ModelWrapper

        p = self.partition_artefact
        if p is None or not Path(p).is_file():
            return
        chk = self.check("create_dataflow_partition", ModelWrapper(str(p)), record_golden=True)
        if not chk.passed:
            raise VerificationError("create_dataflow_partition", "; ".join(chk.problems), chk.to_dict())

    def check(self, step: str, model, record_golden: bool = False) -> StepCheck:
        is_child = model.get_metadata_prop("amc_role") == CHILD_ROLE
        if is_child and not record_golden and self.golden is None:
            self._golden_from_partition_artefact()
        if is_child:
            out, ints, problems = self._run_child(model)
        else:
            out, ints, problems = self._run_plain(model)
        ref = self.ref
        res = StepCheck(step=step, frames=len(ref), passed=True, tolerance=self.tolerance,
                        mode="parent+child" if is_child else "graph")
        if out.shape != ref.shape:
            res.passed = False
            res.problems.append(f"output shape {out.shape} differs from the reference {ref.shape}")
        else:
            err = np.abs(out.astype(np.float64) - ref)
            res.max_abs_err = float(err.max())
            if res.max_abs_err > res.tolerance:
                res.passed = False
                res.problems.append(
                    f"outputs differ from the QONNX model by up to {res.max_abs_err:.3g} "
                    f"(tolerance {res.tolerance:.3g})"
                )
            srt = np.sort(ref, axis=1)
            ties = (srt[:, -1] - srt[:, -2]) <= res.tolerance
            agree = out.argmax(1) == ref.argmax(1)
            res.top1_ties = int(ties.sum())
            res.top1_agree = int(agree.sum())
            bad = np.where(~agree & ~ties)[0]
            if len(bad):
                res.passed = False
                res.problems.append(f"top-1 differs from the QONNX model on frames {bad.tolist()}")
        if ints is not None:
            if not np.all(ints == np.round(ints)):
                res.passed = False
                res.problems.append("accelerator output is not integer-valued")
            if record_golden:
                np.savez(self.golden_path, int_out=ints)
                self.golden = ints
                res.int_output_exact = True
            elif self.golden is not None:
                exact = ints.shape == self.golden.shape and bool(np.array_equal(ints, self.golden))
                res.int_output_exact = exact
                if not exact:
                    res.passed = False
                    n = int((ints != self.golden).sum()) if ints.shape == self.golden.shape else -1
                    res.problems.append(
                        f"accelerator integer output is not bit-exact with create_dataflow_partition's "
                        f"({n} values differ)"
                    )
        if problems:
            res.passed = False
            res.problems += problems
        if res.passed and record_golden is False and is_child and self.golden is None:
            res.problems.append("no golden partition output recorded; integer output not compared")
        return res

"""Residual adds of integer operands on two scales, made exact in integers.

A residual add whose operands come from two quantizers with their own scales (BacalhauNet as published)
is, after streamlining, Add(Mul(a, s1), Mul(b, s2)) with integer codes a, b in known finite ranges and
float32 scales s1 != s2. The float sum s1*a + s2*b lies on no small integer grid, so FINN cannot stream
it. But all that reaches the next layer is a comparison: the sum (or a linear integer-weight layer of
it, a depthwise conv, or a max pool of it) meets a MultiThreshold, which counts the thresholds T it
reaches. We only need integers that count the same.

The arithmetic. Put both operands on one grid q with s1 ~ P1*q and s2 ~ P2*q, P1, P2 positive
integers, so that the accelerator computes the integer sum P1*a + P2*b (a fixed-point grid: q is s1/P1;
with a power of two for the larger, P = 2^f, the tiny fixture's 3-tap conv is still inexact at f = 19,
where the multipliers solve() picks have 12 bits: only the ratio P2/P1 matters, and a binary fraction
approximates it far worse than a continued fraction's convergents do).
Between the add and the MultiThreshold sits an integer linear map (identity, Im2Col + MatMul with
integer weights W, a max pool); per output channel the float value is s1*U + s2*V with U = W.a,
V = W.b integers in a box [Ulo, Uhi] x [Vlo, Vhi] (from W and the codes' ranges; a max pool commutes
with the thresholds, which are monotone), and the integer value is P1*U + P2*V. For one threshold T
the float graph says "reached" on R = {(U, V) in the box: s1*U + s2*V >= T}. Integers count the same
iff some integer T' has P1*U + P2*V >= T' exactly on R, i.e. iff the max of P1*U + P2*V over the box
outside R is below its min over R; then T' = that min. Row by row (each V) R is U >= u*(V), so both
extremes lie at u*(V) and u*(V) - 1: an exhaustive check of every (U, V) pair of the box (4,096 for
two 6-bit codes into a quantizer) in O(rows) per threshold. The fewest bits: see solve(). The float
side is exact arithmetic on the graph's float32 constants (float64 products of a float32 and an
integer below 2^29 are exact; their sum rounds at 2^-53 relative, far below float32's own evaluation
of the graph, which may put a value within 2^-24 of a threshold on either side).

The rewrite: the two Mul constants become the integers P1, P2 (FINN streams them as ElementwiseMul by a
constant, the add as ElementwiseAdd), every MultiThreshold behind the add gets its integer thresholds
T'. An add that cannot be made exact (another consumer than those above, no multipliers below the
limit, an integer range over 31 bits) is left float, and its reason is recorded for
create_dataflow_partition's error. What was done is recorded in the graph's metadata (METADATA_KEY).

Written here rather than taken from FINN: finn-plus has no pass for a join of two scales (its
MoveLinearPastEltwiseAdd needs equal scales, StreamlinePlus leaves the float add).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from qonnx.transformation.base import Transformation

METADATA_KEY = "amc_residual_rescale"
# data movement between the add and its quantizer that keeps each value (or, for max pooling, picks
# one: thresholds are monotone, so counting after the max is the max of the counts)
PASS_THROUGH = ("Im2Col", "MaxPoolNHWC", "MaxPool", "Flatten", "Reshape", "Transpose", "Pad")


@dataclass(frozen=True)
class RescaleConfig:
    """max_multiplier_bits: the widest P1, P2 tried; max_int_bits: the widest integer allowed anywhere on
    the rescaled path (the add, a MatMul's accumulator), FINN's 32-bit accumulators less a sign bit."""
    max_multiplier_bits: int = 24
    max_int_bits: int = 31


@dataclass
class Operand:
    mul: str          # the Mul node scaling it
    tensor: str       # the integer tensor
    dtype: str
    lo: int
    hi: int
    scale: float


@dataclass
class Constraint:
    """One MultiThreshold behind the add: per channel c, the float value s1*U + s2*V with U, V in the box
    [ulo[c], uhi[c]] x [vlo[c], vhi[c]] meets thresholds[c]."""
    node: str
    ulo: np.ndarray
    uhi: np.ndarray
    vlo: np.ndarray
    vhi: np.ndarray
    thresholds: np.ndarray  # (C, n)


@dataclass
class Outcome:
    add: str
    operands: list[str]
    scales: list[float]
    multipliers: list[int] = field(default_factory=list)  # [P1, P2] once made exact
    thresholds_checked: int = 0
    pairs_checked: int = 0
    reason: str = ""

    @property
    def done(self) -> bool:
        return bool(self.multipliers)

    def describe(self) -> str:
        s = " and ".join(f"{d} x {sc:.6g}" for d, sc in zip(self.operands, self.scales))
        if self.done:
            bits = max(self.multipliers).bit_length()
            return (f"{self.add} adds {s}: integers {self.multipliers[0]}*a + {self.multipliers[1]}*b "
                    f"({bits}-bit multipliers), exact on all {self.pairs_checked} value pairs "
                    f"against their channel's thresholds ({self.thresholds_checked} in all)")
        return f"{self.add} adds {s}: not made exact in integers: {self.reason}"


class Refused(Exception):
    pass


# ---- reading the graph ---------------------------------------------------------------------
def _scaled_operand(model, tensor: str) -> Operand | None:
    prod = model.find_producer(tensor)
    if prod is None or prod.op_type != "Mul":
        return None
    for a, b in ((0, 1), (1, 0)):
        c = model.get_initializer(prod.input[b])
        dt = model.get_tensor_datatype(prod.input[a])
        if c is not None and np.asarray(c).size == 1 and model.get_initializer(prod.input[a]) is None \
                and dt is not None and dt.is_integer():
            return Operand(prod.name, prod.input[a], dt.name, int(dt.min()), int(dt.max()),
                           float(np.asarray(c, dtype=np.float32).reshape(-1)[0]))
    return None


def _is_integer_const(model, mul_name: str) -> bool:
    mul = next(n for n in model.graph.node if n.name == mul_name)
    return any(model.get_initializer(t) is not None and model.get_tensor_datatype(t).is_integer()
               for t in mul.input)


def two_scale_adds(model) -> list[tuple]:
    """(Add node, Operand, Operand) for each add of two integer tensors times two different scalars."""
    found = []
    for n in model.graph.node:
        if n.op_type != "Add" or len(n.input) != 2 or any(model.get_initializer(t) is not None for t in n.input):
            continue
        ops = [_scaled_operand(model, t) for t in n.input]
        if None in ops or np.isclose(ops[0].scale, ops[1].scale, rtol=1e-6, atol=0):
            continue
        if all(_is_integer_const(model, op.mul) for op in ops):  # rescaled already (P1, P2)
            continue
        found.append((n, ops[0], ops[1]))
    return found


def _channel_axis(model, mt) -> int:
    from qonnx.custom_op.registry import getCustomOp

    layout = getCustomOp(mt).get_nodeattr("data_layout")
    rank = len(model.get_tensor_shape(mt.input[0]))
    if not layout:
        layout = {2: "NC", 3: "NWC", 4: "NCHW"}.get(rank, "NC")
    return layout.index("C") if "C" in layout else 1


def _thresholds(model, mt, channels: int) -> np.ndarray:
    thr = np.asarray(model.get_initializer(mt.input[1]), dtype=np.float64)
    return np.broadcast_to(thr, (channels, thr.shape[-1])) if thr.shape[0] == 1 else thr


def _pads_non_zero(model, node) -> bool:
    """A pad value other than 0 is not 0 on both sides of the rescale (0 is: 0 * P = 0)."""
    from qonnx.custom_op.registry import getCustomOp

    if node.op_type == "Im2Col":
        return getCustomOp(node).get_nodeattr("pad_value") != 0
    if node.op_type == "Pad" and len(node.input) > 2 and node.input[2]:
        v = model.get_initializer(node.input[2])
        return v is None or bool(np.any(np.asarray(v) != 0))
    return False


def _constraints(model, add, a: Operand, b: Operand) -> list[Constraint]:
    """Follow the sum to the MultiThresholds it meets; Refused names what else it meets."""
    for op in (a, b):  # the Mul's constant becomes an integer: nothing else may read its product
        mul = next(n for n in model.graph.node if n.name == op.mul)
        if len(model.find_consumers(mul.output[0]) or []) != 1 or \
                mul.output[0] in {o.name for o in model.graph.output}:
            raise Refused(f"its operand {mul.output[0]} ({op.mul}) feeds other nodes too")
    out = []
    stack = [(t, None) for t in [add.output[0]]]
    while stack:
        tensor, weights = stack.pop()
        consumers = model.find_consumers(tensor) or []
        if not consumers or tensor in {o.name for o in model.graph.output}:
            raise Refused(f"its sum {tensor} is a graph output, not quantized")
        for c in consumers:
            if c.op_type in PASS_THROUGH:
                if _pads_non_zero(model, c):
                    raise Refused(f"{c.name} pads with a non-zero value")
                if weights is not None and c.op_type in ("Transpose", "Reshape", "Flatten"):
                    raise Refused(f"{c.name} ({c.op_type}) moves the channels between a MatMul and its quantizer")
                stack.append((c.output[0], weights))
            elif c.op_type == "MatMul" and weights is None and c.input[0] == tensor:
                w = model.get_initializer(c.input[1])
                wdt = model.get_tensor_datatype(c.input[1])
                if w is None or wdt is None or not wdt.is_integer():
                    raise Refused(f"its sum meets {c.name} (MatMul) without integer weights")
                stack.append((c.output[0], np.asarray(w, dtype=np.float64)))
            elif c.op_type == "MultiThreshold" and c.input[0] == tensor:
                shape = model.get_tensor_shape(tensor)
                ch = int(shape[_channel_axis(model, c)])
                thr = _thresholds(model, c, ch)
                if weights is None:  # the operands themselves, every channel alike
                    box = [np.full(ch, v, dtype=np.int64) for v in (a.lo, a.hi, b.lo, b.hi)]
                else:
                    if weights.shape[1] != ch:
                        raise Refused(f"{c.name}'s channels do not match the MatMul before it")
                    pos, neg = np.clip(weights, 0, None), np.clip(weights, None, 0)
                    box = [(pos * lo + neg * hi).sum(0).astype(np.int64) if i % 2 == 0 else
                           (pos * hi + neg * lo).sum(0).astype(np.int64)
                           for i, (lo, hi) in enumerate([(a.lo, a.hi), (a.lo, a.hi), (b.lo, b.hi), (b.lo, b.hi)])]
                out.append(Constraint(c.name, *box, thr))
            else:
                what = "a second MatMul" if c.op_type == "MatMul" else c.op_type
                raise Refused(f"its sum meets {c.name} ({what}), not a MultiThreshold through data movement, "
                              "max pooling or one integer-weight MatMul")
    return out


# ---- the exhaustive check --------------------------------------------------------------------
def _boundary(s1: float, s2: float, t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u*(V): the smallest integer U with s1*U + s2*V >= T, in exact arithmetic (see module docstring);
    t (n,) against v (m,) -> (m, n)."""
    vv = v[:, None].astype(np.float64)
    u = np.ceil((t[None, :] - s2 * vv) / s1)
    for _ in range(2):  # the division rounded: step to the exact boundary
        u = np.where(s1 * (u - 1) + s2 * vv >= t[None, :], u - 1, u)
        u = np.where(s1 * u + s2 * vv < t[None, :], u + 1, u)
    return u


def integer_thresholds(con: Constraint, s1: float, s2: float, p1: int, p2: int) -> np.ndarray | None:
    """T' per channel and threshold such that P1*U + P2*V >= T' exactly where s1*U + s2*V >= T on the
    whole box, or None if no such integers exist for (p1, p2)."""
    out = np.empty(con.thresholds.shape, dtype=np.int64)
    for c in range(con.thresholds.shape[0]):
        ulo, uhi = int(con.ulo[c]), int(con.uhi[c])
        v = np.arange(con.vlo[c], con.vhi[c] + 1, dtype=np.int64)
        t = con.thresholds[c]
        u = np.clip(_boundary(s1, s2, t, v), ulo, uhi + 1).astype(np.int64)  # uhi + 1: none reached
        val_true = p1 * u + p2 * v[:, None]          # the least integer value reaching T in each row
        val_false = p1 * (u - 1) + p2 * v[:, None]   # the largest one that does not
        big = np.iinfo(np.int64).max
        min_true = np.where(u <= uhi, val_true, big).min(0)
        max_false = np.where(u > ulo, val_false, -big).max(0)
        if np.any(max_false >= min_true):
            return None
        # no value reaches T: any T' above every value; every value does: T' at the least one
        top = p1 * uhi + p2 * int(con.vhi[c]) + 1
        out[c] = np.where(min_true == big, top, min_true)
    return out


def _pair_checker(a: Operand, b: Operand, cons: list[Constraint], cfg: RescaleConfig):
    """check(p1, p2) -> integer thresholds per constraint if P1*a + P2*b counts every threshold exactly,
    else None; Refused once the integers would be too wide."""
    def check(p1: int, p2: int):
        if max(p1, p2) >= 2 ** cfg.max_multiplier_bits:
            raise Refused(f"no multipliers below 2^{cfg.max_multiplier_bits} count every threshold as the "
                          "float sum does")
        widest = max([abs(p1 * a.lo + p2 * b.lo), abs(p1 * a.hi + p2 * b.hi)]
                     + [int(np.abs(p1 * e[0] + p2 * e[1]).max()) for con in cons
                        for e in ((con.ulo, con.vlo), (con.uhi, con.vhi))])
        if widest >= 2 ** cfg.max_int_bits:
            raise Refused(f"exact needs multipliers beyond {p1}*a + {p2}*b, whose integers reach {widest}, "
                          f"over {cfg.max_int_bits} bits")
        thr = []
        for con in cons:
            t = integer_thresholds(con, a.scale, b.scale, p1, p2)
            if t is None:
                return None
            thr.append(t)
        return thr
    return check


def solve(a: Operand, b: Operand, cons: list[Constraint], cfg: RescaleConfig) -> tuple[int, int, list]:
    """The smallest multipliers (P1, P2) whose integer sum counts every threshold exactly, and the
    integer thresholds per constraint.

    For each threshold the ratios rho = P2/P1 that count exactly form an interval around r = s2/s1 (each
    pair of a reached and an unreached (U, V) allows a half-line of rho), so all thresholds together
    allow an interval too. The simplest fraction (smallest P1, P2) inside any interval around r lies on
    the Stern-Brocot path to r (its continued-fraction convergents and the semiconvergents between):
    we walk it, and within each run of steps towards r (where the fractions approach r monotonically,
    so the exact ones are a tail of the run) bisect for the first exact one."""
    from fractions import Fraction

    if a.scale <= 0 or b.scale <= 0:
        raise Refused("a non-positive operand scale")
    check = _pair_checker(a, b, cons, cfg)
    r = Fraction(b.scale) / Fraction(a.scale)  # exact: both are float32 values
    lo, hi = (0, 1), (1, 0)  # (p2, p1): the path's bounds, lo < r < hi
    while True:
        m = (lo[0] + hi[0], lo[1] + hi[1])
        if Fraction(m[0], m[1]) == r:
            thr = check(m[1], m[0])
            if thr is None:
                raise Refused("even the exact ratio of the scales does not count every threshold")
            return m[1], m[0], thr
        towards_hi = Fraction(m[0], m[1]) > r  # r lies below m: hi moves down towards r
        fixed, moving = (lo, hi) if towards_hi else (hi, lo)
        # the run: node(k) = k * fixed + moving, k = 1 .. kmax, all on m's side of r (node(1) = m)
        x = abs(moving[0] - r * moving[1]) / abs(fixed[0] - r * fixed[1])
        kmax = max(1, math.ceil(x) - 1)
        node = lambda j: (fixed[0] * j + moving[0], fixed[1] * j + moving[1])  # noqa: E731
        cap = 2 ** cfg.max_multiplier_bits - 1  # the run's nodes grow with k: stop at the cap
        kmax = min([kmax] + [(cap - moving[i]) // fixed[i] for i in (0, 1) if fixed[i] > 0])
        if kmax < 1:
            check(*reversed(node(1)))  # refuses: over the cap
        end = node(kmax)
        if check(end[1], end[0]) is not None:
            first, last = 1, kmax  # the exact nodes of the run are a tail: find its first
            while first < last:
                mid = (first + last) // 2
                if check(node(mid)[1], node(mid)[0]) is not None:
                    last = mid
                else:
                    first = mid + 1
            p2, p1 = node(first)
            return p1, p2, check(p1, p2)
        if towards_hi:
            hi = end
        else:
            lo = end


# ---- the rewrite ---------------------------------------------------------------------------
def _smallest(lo: int, hi: int):
    from qonnx.core.datatype import DataType

    return DataType.get_smallest_possible(hi) if lo >= 0 else DataType.get_smallest_possible(min(lo, -hi - 1))


def _rewrite(model, add, a: Operand, b: Operand, p1: int, p2: int, cons, thr) -> None:
    from qonnx.core.datatype import DataType

    for op, p in ((a, p1), (b, p2)):
        mul = next(n for n in model.graph.node if n.name == op.mul)
        i = next(i for i, t in enumerate(mul.input) if model.get_initializer(t) is not None)
        cname = f"{mul.name}_multiplier"  # a new initializer: the old one may be shared
        model.set_initializer(cname, np.asarray(p, dtype=np.float32).reshape(model.get_initializer(mul.input[i]).shape))
        mul.input[i] = cname
        model.set_tensor_datatype(cname, _smallest(p, p))
        model.set_tensor_datatype(mul.output[0], _smallest(p * op.lo, p * op.hi))
    lo, hi = p1 * a.lo + p2 * b.lo, p1 * a.hi + p2 * b.hi
    model.set_tensor_datatype(add.output[0], _smallest(lo, hi))
    by_name = {n.name: n for n in model.graph.node}
    for con, t in zip(cons, thr):
        mt = by_name[con.node]
        mt.input[1] = f"{mt.name}_integer_thresholds"  # a new initializer: the old one may be shared
        model.set_initializer(mt.input[1], t.astype(np.float32))
        model.set_tensor_datatype(mt.input[1], _smallest(int(t.min()), int(t.max())))
    # the data movement and MatMuls between carry integers now
    stack = [add.output[0]]
    while stack:
        tensor = stack.pop()
        for c in model.find_consumers(tensor) or []:
            if c.op_type in PASS_THROUGH:
                model.set_tensor_datatype(c.output[0], model.get_tensor_datatype(tensor))
                stack.append(c.output[0])
            elif c.op_type == "MatMul":
                model.set_tensor_datatype(c.output[0], DataType["INT32"])


def recorded(model) -> list[Outcome]:
    """The outcomes RescaleResidualAdds stored in a graph (e.g. to name a refused add later)."""
    text = model.get_metadata_prop(METADATA_KEY)
    return [Outcome(**d) for d in json.loads(text)] if text else []


class RescaleResidualAdds(Transformation):
    """Every two-scale residual add that can be made exact, rewritten. The outcomes of this pass, refusals
    included, are kept in `self.outcomes` and in the graph's metadata under METADATA_KEY (`recorded`). One
    pass: a second would record again."""

    def __init__(self, cfg: RescaleConfig | None = None):
        super().__init__()
        self.cfg = cfg or RescaleConfig()
        self.outcomes: list[Outcome] = []

    def apply(self, model):
        self.outcomes = []
        for add, a, b in two_scale_adds(model):
            o = Outcome(add.name, [a.dtype, b.dtype], [a.scale, b.scale])
            try:
                cons = _constraints(model, add, a, b)
                p1, p2, thr = solve(a, b, cons, self.cfg)
            except Refused as e:
                o.reason = str(e)
            else:
                _rewrite(model, add, a, b, p1, p2, cons, thr)
                o.multipliers = [p1, p2]
                o.thresholds_checked = int(sum(c.thresholds.size for c in cons))
                o.pairs_checked = int(sum(((c.uhi - c.ulo + 1) * (c.vhi - c.vlo + 1)).sum() for c in cons))
            self.outcomes.append(o)
        if self.outcomes:
            model.set_metadata_prop(METADATA_KEY, json.dumps([asdict(o) for o in self.outcomes]))
        return model, False

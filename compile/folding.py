"""Folding (PE/SIMD parallelism): FINN's JSON format, validation, and a search over FINN's estimates.

The folding JSON is FINN's own format ({"Defaults": {}, "<node name>": {"PE": .., "SIMD": ..}}), so a
file written here can be edited, re-applied with --folding, or handed to finn-plus's builder.

Search. A *unit* is a group of nodes whose parallelism is set together (most layers are a unit of
one; a depthwise sliding window generator is tied to the VVAU/Pool it feeds, whose PE it must equal).
Each unit has a list of valid options; for each option FINN's own per-layer models give the expected
cycles per frame (get_exp_cycles) and the resource estimate (LUT, BRAM_18K, URAM, DSP). The throughput
of a dataflow pipeline is set by its slowest layer, so for a cycle target T the cheapest folding that
meets T picks, per unit independently, the cheapest option with cycles <= T. "Cheapest" weighs each
resource by the share of its budget it uses (sum over resources of use / budget). Then:

- cheapest folding for a target throughput: T = clock / target_fps, one pass;
- fastest folding within a budget: the smallest T whose cheapest folding fits the budget. Fitting is
  monotone in T (a larger T only adds options), so a binary search over all option cycle counts finds
  it exactly, for the scalarised cost. (With several binding resources at once the per-unit choice is a
  heuristic: a unit could trade LUTs for BRAM in a way the weighted sum does not see.)

Rebalancing: where the cheapest folding at T is over the budget in one resource while another has room,
the resource over it is weighed more, round by round, and the options that move work between resources
(an RTL VVAU's products in DSP slices rather than LUTs, the other side of its resType "auto") join in.

FINN's SetFolding instead walks SIMD then PE up to the first value that meets the target, without
looking at resources; it stays available as folding_strategy="finn".
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from amc_cli import ConstraintMissed, RefusedInput
from amc_cli.inputs import read_json

from .boards import RESOURCES
from .dsp_packing import mvau_rtl_dsps
from .hwops.lutram import LUTRAM_DEPTH, in_lutram, lutram_luts
from .mvu_fabric import mvau_rtl_fabric_luts

#: The node attributes FINN's builder extracts into its folding configs.
FOLD_ATTRS = [
    "PE", "SIMD", "EmbFold", "SeqFold", "parallel_window", "ram_style", "ram_style_thresholds",
    "ram_style_mask", "depth", "impl_style", "resType", "mac_resource", "mem_mode",
    "runtime_writeable_weights", "depth_trigger_uram", "depth_trigger_bram",
]
MAX_AP_INT_W = 8191
# Weights of an RTL MVAU may sit in distributed RAM (ram_style "distributed", hwops/lutram.py).
# FINN's MVAU_rtl estimates no LUTs at all, so the search and the report add these; offered
# (BuildConfig.lutram_weights, --lutram-weights) where the memory is at most this deep (a fully parallel
# layer's weights are one wide word, which BRAM stores at 36 bits a block).
DISTRIBUTED_MAX_DEPTH = 2 * LUTRAM_DEPTH

PE_CHANNEL_OPS = {
    "Thresholding": "NumChannels",
    "DuplicateStreams": "NumChannels",
    "GlobalAccPool": "NumChannels",
    "StreamingMaxPool": "NumChannels",
    "StreamingGlobalMaxPool": "NumChannels",  # ours (compile/hwops/global_max_pool.py)
    "ChannelwiseOp": "NumChannels",
    "AddStreams": "NumChannels",
    "LabelSelect": "Labels",
}


class FoldingError(ConstraintMissed, ValueError):
    """No folding meets what was asked (the budget, the target)."""


class FoldingConfigError(RefusedInput, FoldingError):
    """A folding config file that cannot be read or does not match the graph."""


def base_op(op_type: str) -> str:
    return op_type.rsplit("_", 1)[0] if op_type.endswith(("_hls", "_rtl")) else op_type


def divisors(n: int) -> list[int]:
    n = int(n)
    return [d for d in range(1, n + 1) if n % d == 0]


def _inst(node):
    from qonnx.custom_op.registry import getCustomOp

    return getCustomOp(node)


def _has_attr(inst, name: str) -> bool:
    return name in inst.get_nodeattr_types()


def is_hw_node(node) -> bool:
    return node.domain.startswith("finn.custom_op.fpgadataflow")


# ---- FINN folding JSON ------------------------------------------------------------------
def extract_folding(model) -> dict:
    cfg: dict = {"Defaults": {}}
    for node in model.graph.node:
        if not is_hw_node(node):
            continue
        inst = _inst(node)
        attrs = {}
        for a in FOLD_ATTRS:
            if _has_attr(inst, a):
                v = inst.get_nodeattr(a)
                attrs[a] = v.decode() if isinstance(v, bytes) else v
        if attrs:
            cfg[node.name] = attrs
    return cfg


def save_folding(cfg: dict, path: Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    return path


def load_folding(path: Path) -> dict:
    try:
        data = read_json(Path(path))
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise FoldingConfigError(f"{path}: not a JSON folding config ({e})") from None
    if not isinstance(data, dict):
        raise FoldingConfigError(f"{path}: a folding config is a JSON object of node name -> attributes")
    return data


def apply_folding(model, cfg: dict, strict: bool = True) -> list[str]:
    """Set the attributes of each named node. Unknown nodes/attributes are errors when strict."""
    nodes = {n.name: n for n in model.graph.node}
    problems = []
    defaults = cfg.get("Defaults", {}) or {}
    for name, attrs in cfg.items():
        if name == "Defaults":
            continue
        if name not in nodes:
            problems.append(f"no node named {name!r} in the graph")
            continue
        inst = _inst(nodes[name])
        for a, v in attrs.items():
            if not _has_attr(inst, a):
                problems.append(f"{name}: {nodes[name].op_type} has no attribute {a!r}")
                continue
            inst.set_nodeattr(a, v)
    # FINN semantics: Defaults apply to every node of the listed op types (attr: [value, [op types]])
    for a, spec in defaults.items():
        if not (isinstance(spec, list) and len(spec) == 2):
            problems.append(f"Defaults[{a!r}] must be [value, [op_type, ...]]")
            continue
        value, op_types = spec
        for node in model.graph.node:
            if node.op_type in op_types or "all" in op_types:
                inst = _inst(node)
                if _has_attr(inst, a):
                    inst.set_nodeattr(a, value)
    if strict and problems:
        raise FoldingConfigError("folding config does not match the graph: " + "; ".join(problems))
    return problems


def validate_folding(model) -> list[str]:
    """Divisibility and coupling rules of FINN's HW layers, checked before anything is generated."""
    problems = []
    for node in model.graph.node:
        if not is_hw_node(node):
            continue
        b, inst = base_op(node.op_type), _inst(node)

        def need(attr: str, total: int):
            v = int(inst.get_nodeattr(attr))
            if v < 1 or total % v != 0:
                problems.append(f"{node.name}: {attr}={v} must divide {total}")

        if b == "MVAU":
            need("PE", inst.get_nodeattr("MH"))
            need("SIMD", inst.get_nodeattr("MW"))
        elif b == "VVAU":
            ch = int(inst.get_nodeattr("Channels"))
            need("PE", ch)
            need("SIMD", int(np.prod(inst.get_nodeattr("Kernel"))))
            if int(inst.get_nodeattr("SIMD")) > 1 and int(inst.get_nodeattr("PE")) != ch:
                problems.append(f"{node.name}: SIMD>1 needs PE=Channels ({ch})")
            elif _depthwise_producer(model, node) is None and int(inst.get_nodeattr("PE")) != ch:
                problems.append(f"{node.name}: fed by no depthwise window, it needs PE=Channels ({ch})")
        elif b == "Pool":
            need("PE", inst.get_nodeattr("Channels"))
        elif b == "FMPadding":
            need("SIMD", inst.get_nodeattr("NumChannels"))
        elif b == "ConvolutionInputGenerator":
            need("SIMD", inst.get_nodeattr("IFMChannels"))
            if inst.get_nodeattr("depthwise") == 1:
                for c in model.find_consumers(node.output[0]) or []:
                    if base_op(c.op_type) in ("VVAU", "Pool"):
                        pe = int(_inst(c).get_nodeattr("PE"))
                        if int(inst.get_nodeattr("SIMD")) != pe:
                            problems.append(
                                f"{node.name}: depthwise SIMD={inst.get_nodeattr('SIMD')} must equal "
                                f"PE={pe} of {c.name}"
                            )
        elif b in PE_CHANNEL_OPS and _has_attr(inst, "PE"):
            need("PE", inst.get_nodeattr(PE_CHANNEL_OPS[b]))
        elif b.startswith("Elementwise") and _has_attr(inst, "PE"):
            need("PE", int(inst.get_normal_output_shape()[-1]))
        elif b == "StreamingConcat":
            if not (hasattr(inst, "is_zip") and inst.is_zip()):  # our zip takes every input whole
                for ch in inst.get_nodeattr("ChannelsPerStream"):
                    need("SIMD", int(ch))
    return problems


# ---- units and options ------------------------------------------------------------------
@dataclass
class Option:
    attrs: dict[str, dict]  # node name -> {attr: value}
    cycles: int = 0
    res: dict[str, float] = field(default_factory=dict)
    #: taken only to rebalance a folding over its budget (products moved between LUTs and DSP slices)
    alternative: bool = False


@dataclass
class Unit:
    name: str
    nodes: list[str]
    options: list[Option]
    fixed: bool = False


def _depthwise_producer(model, node):
    prod = model.find_producer(node.input[0])
    if prod is not None and base_op(prod.op_type) == "ConvolutionInputGenerator":
        if _inst(prod).get_nodeattr("depthwise") == 1:
            return prod
    return None


def _raw_options(model, node, lutram_weights: bool = False) -> tuple[list, list[dict]]:
    """(nodes of the unit, list of {node name: attrs}) for one anchor node; [] options = fixed."""
    b, inst, n = base_op(node.op_type), _inst(node), node.name
    if b == "MVAU":
        mh, mw = int(inst.get_nodeattr("MH")), int(inst.get_nodeattr("MW"))
        wbits = inst.get_input_datatype(1).bitwidth()
        hls = node.op_type.endswith("_hls")
        lutram = lutram_weights and not hls and inst.get_nodeattr("mem_mode") == "internal_decoupled"
        opts = []
        for pe in divisors(mh):
            for simd in divisors(mw):
                if hls and pe * simd * wbits > MAX_AP_INT_W:
                    continue
                if not lutram:
                    opts.append({n: {"PE": pe, "SIMD": simd}})
                    continue
                opts.append({n: {"PE": pe, "SIMD": simd, "ram_style": "auto"}})
                if mh * mw // (pe * simd) <= DISTRIBUTED_MAX_DEPTH:
                    opts.append({n: {"PE": pe, "SIMD": simd, "ram_style": "distributed"}})
        return [node], opts
    if b in ("VVAU", "Pool"):
        ch = int(inst.get_nodeattr("Channels"))
        swu = _depthwise_producer(model, node)
        nodes = [swu, node] if swu is not None else [node]
        swu_rtl = swu is not None and swu.op_type.endswith("_rtl")
        opts = []
        # a VVAU fed by anything but a depthwise window reads it in natural (tap, channel) order, which is
        # its own order only with every channel at once (compile/transforms/unrolled_depthwise.py)
        for pe in divisors(ch) if swu is not None or b == "Pool" else [ch]:
            simds = [1]
            if b == "VVAU" and pe == ch:
                simds = divisors(int(np.prod(inst.get_nodeattr("Kernel"))))
            for simd in simds:
                o = {n: {"PE": pe, "SIMD": simd} if b == "VVAU" else {"PE": pe}}
                if swu is not None:
                    o[swu.name] = {"SIMD": pe}
                    if swu_rtl:
                        o[swu.name]["parallel_window"] = 1 if simd > 1 else 0
                opts.append(o)
        if node.op_type == "VVAU_rtl" and inst.get_nodeattr("resType") == "auto" and hasattr(inst, "use_dsp"):
            elsewhere = "lut" if inst.use_dsp() else "dsp"  # where "auto" does not put the products
            opts += [{**o, n: {**o[n], "resType": elsewhere}} for o in opts]
        return nodes, opts
    if b == "ConvolutionInputGenerator":
        if inst.get_nodeattr("depthwise") == 1:
            for c in model.find_consumers(node.output[0]) or []:
                if base_op(c.op_type) in ("VVAU", "Pool"):
                    return [], []  # handled with its consumer
        ch = int(inst.get_nodeattr("IFMChannels"))
        pw = _has_attr(inst, "parallel_window")
        opts = [{n: ({"SIMD": s, "parallel_window": 0} if pw else {"SIMD": s})} for s in divisors(ch)]
        if pw and node.op_type.endswith("_rtl"):
            opts.append({n: {"SIMD": ch, "parallel_window": 1}})
        return [node], opts
    if b == "FMPadding" and _has_attr(inst, "SIMD"):
        return [node], [{n: {"SIMD": s}} for s in divisors(inst.get_nodeattr("NumChannels"))]
    if b in PE_CHANNEL_OPS and _has_attr(inst, "PE"):
        return [node], [{n: {"PE": p}} for p in divisors(inst.get_nodeattr(PE_CHANNEL_OPS[b]))]
    if b.startswith("Elementwise") and _has_attr(inst, "PE"):
        ch = int(inst.get_normal_output_shape()[-1])
        return [node], [{n: {"PE": p}} for p in divisors(ch)]
    if b == "StreamingConcat":  # SIMD must divide every input's channel count
        channels = [int(c) for c in inst.get_nodeattr("ChannelsPerStream")]
        opts = [{n: {"SIMD": s}} for s in divisors(math.gcd(*channels))]
        if hasattr(inst, "is_zip") and len(channels) > 1 and len(set(channels)) == 1:  # ours: all at once
            opts.append({n: {"SIMD": sum(channels)}})
        return [node], opts
    if b == "Shuffle" and _has_attr(inst, "SIMD"):  # as FINN's SetFolding: SIMD up to the last dim
        return [node], [{n: {"SIMD": s}} for s in divisors(int(inst.get_normal_input_shape()[-1]))]
    return [node], []


def weights_in_lutram(node) -> bool:
    """Whether an RTL MVAU's weight memory is distributed RAM (hwops/lutram.py's rule; FINN's estimate counts
    block RAM for a shallow one all the same)."""
    inst = _inst(node)
    if not (node.op_type == "MVAU_rtl" and inst.get_nodeattr("mem_mode") == "internal_decoupled"):
        return False
    return in_lutram(inst.get_nodeattr("ram_style"), _weight_depth(inst))


def _weight_depth(inst) -> int:
    pe, simd = int(inst.get_nodeattr("PE")), int(inst.get_nodeattr("SIMD"))
    return int(inst.get_nodeattr("MH")) * int(inst.get_nodeattr("MW")) // (pe * simd)


def weight_lutram_luts(node) -> int:
    """LUTs of an RTL MVAU's weights in distributed RAM, which FINN's estimate leaves out (0 otherwise)."""
    if not weights_in_lutram(node):
        return 0
    inst = _inst(node)
    width = int(inst.get_nodeattr("PE")) * int(inst.get_nodeattr("SIMD")) * inst.get_input_datatype(1).bitwidth()
    return lutram_luts(width, _weight_depth(inst))


def resource_estimate(node, part: str, model=None) -> dict[str, float]:
    """FINN's per-layer resource estimate, plus what it leaves out (weight_lutram_luts; an RTL MVAU's adder
    trees, mvu_fabric), with the DSPs of an RTL MVAU as mvu.sv packs them (dsp_packing; `model` gives the
    weights its packing depends on)."""
    inst = _inst(node)
    r = inst.node_res_estimation(part)
    res = {k: float(r.get(k, 0)) for k in RESOURCES}
    res["LUT"] += weight_lutram_luts(node)
    if weights_in_lutram(node):
        res["BRAM_18K"] = 0.0
    if node.op_type == "MVAU_rtl":
        dsps = mvau_rtl_dsps(inst, part, model)
        if dsps is not None:
            res["DSP"] = float(dsps)
            res["LUT"] += mvau_rtl_fabric_luts(inst, part, model)
    return res


def node_estimate(node, part: str, model=None) -> tuple[int, dict[str, float]]:
    return int(_inst(node).get_exp_cycles()), resource_estimate(node, part, model)


def _current_attrs(model, names: list[str], like: dict[str, dict]) -> dict:
    nodes = {n.name: n for n in model.graph.node}
    return {nm: {a: _inst(nodes[nm]).get_nodeattr(a) for a in like.get(nm, {})} for nm in names}


def _set(model, attrs: dict[str, dict]) -> None:
    nodes = {n.name: n for n in model.graph.node}
    for nm, av in attrs.items():
        inst = _inst(nodes[nm])
        for a, v in av.items():
            inst.set_nodeattr(a, v)


def build_units(model, part: str, lutram_weights: bool = False) -> list[Unit]:
    """Enumerate every unit's options with FINN's cycle and resource estimates (model left as found);
    `lutram_weights` adds distributed-RAM weights to shallow RTL MVAUs' options."""
    units, seen = [], set()
    nodes = {n.name: n for n in model.graph.node}
    for node in model.graph.node:
        if not is_hw_node(node) or node.name in seen:
            continue
        unit_nodes, raw = _raw_options(model, node, lutram_weights)
        if not unit_nodes:
            continue
        names = [u.name for u in unit_nodes]
        seen.update(names)
        if not raw:
            cyc, res = 0, {r: 0.0 for r in RESOURCES}
            for nm in names:
                c, rr = node_estimate(nodes[nm], part, model)
                cyc = max(cyc, c)
                res = {r: res[r] + rr[r] for r in RESOURCES}
            units.append(Unit(node.name, names, [Option({}, cyc, res)], fixed=True))
            continue
        saved = _current_attrs(model, names, {nm: {a: None for o in raw for a in o.get(nm, {})} for nm in names})
        opts = []
        for attrs in raw:
            try:
                _set(model, attrs)
                cyc, res = 0, {r: 0.0 for r in RESOURCES}
                for nm in names:
                    c, rr = node_estimate(nodes[nm], part, model)
                    cyc = max(cyc, c)
                    res = {r: res[r] + rr[r] for r in RESOURCES}
            except Exception:  # an option FINN's models reject is not an option
                continue
            opts.append(Option(attrs, cyc, res, alternative=any("resType" in av for av in attrs.values())))
        _set(model, saved)
        if not opts:
            raise FoldingError(f"no valid folding option for {node.name} ({node.op_type})")
        units.append(Unit(node.name, names, opts))
    return units


def _cost(res: dict[str, float], limits: dict[str, float], weights: dict[str, float] | None = None) -> float:
    c = 0.0
    for r in RESOURCES:
        if res.get(r, 0) <= 0:
            continue
        if limits.get(r, 0) <= 0:
            return math.inf
        c += res[r] / limits[r] * (weights[r] if weights else 1.0)
    return c


@dataclass
class Folding:
    strategy: str
    target_cycles: int | None
    cycles: int  # slowest unit
    bottleneck: str
    res: dict[str, float]
    limits: dict[str, float]
    choice: dict[str, Option]
    missed: list[str] = field(default_factory=list)
    n_options: int = 0

    @property
    def fits(self) -> bool:
        return all(self.res[r] <= self.limits[r] + 1e-9 for r in RESOURCES)

    def attrs(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for opt in self.choice.values():
            for nm, av in opt.attrs.items():
                out.setdefault(nm, {}).update(av)
        return out

    def summary(self, clock_hz: float) -> dict:
        return {
            "strategy": self.strategy,
            "target_cycles": self.target_cycles,
            "cycles_per_frame": self.cycles,
            "bottleneck": self.bottleneck,
            "estimated_fps": clock_hz / self.cycles if self.cycles else None,
            "resources": {r: self.res[r] for r in RESOURCES},
            "limits": {r: self.limits[r] for r in RESOURCES},
            "fits_budget": self.fits,
            "missed_target": self.missed,
            "options_considered": self.n_options,
            "units": {
                name: {"attrs": opt.attrs, "cycles": opt.cycles, "res": opt.res}
                for name, opt in self.choice.items()
            },
        }


def _choose(units: list[Unit], limits: dict[str, float], T: int, strategy: str,
            weights: dict[str, float] | None = None) -> Folding:
    """Per unit, the cheapest option of at most T cycles (the fastest where none is); with `weights`, each
    resource's share of its budget weighed so, and the rebalancing alternatives among the options."""
    choice, missed = {}, []
    for u in units:
        options = [o for o in u.options if weights or not o.alternative]
        ok = [o for o in options if o.cycles <= T]
        if ok:
            best = min(ok, key=lambda o: (_cost(o.res, limits, weights), o.cycles))
        else:
            best = min(options, key=lambda o: (o.cycles, _cost(o.res, limits, weights)))
            if not u.fixed:
                missed.append(u.name)
        choice[u.name] = best
    res = {r: sum(o.res[r] for o in choice.values()) for r in RESOURCES}
    bott = max(choice, key=lambda k: choice[k].cycles)
    return Folding(strategy, T, choice[bott].cycles, bott, res, limits, choice, missed,
                   sum(len(u.options) for u in units))


REBALANCE_ROUNDS = 8


def _choose_within(units: list[Unit], limits: dict[str, float], T: int, strategy: str) -> Folding:
    """The cheapest folding at T; where that is over the budget in a resource, rebalanced: that resource
    weighed twice as much each round, so the units that can trade it for another with room left (a VVAU's
    products in DSP slices instead of LUTs, a smaller SIMD for a larger PE) do so. The first rebalanced
    folding that fits, else the cheapest one."""
    first = _choose(units, limits, T, strategy)
    f, weights = first, dict.fromkeys(RESOURCES, 1.0)
    for _ in range(REBALANCE_ROUNDS):
        if f.fits:
            return f
        over = [r for r in RESOURCES if f.res[r] > limits[r] + 1e-9]
        weights.update({r: 2 * weights[r] for r in over})
        f = _choose(units, limits, T, strategy, weights)
    return f if f.fits else first


def search_cheapest(units: list[Unit], limits: dict[str, float], target_cycles: int) -> Folding:
    """Per unit, the cheapest option meeting target_cycles (the fastest one where none does)."""
    return _choose_within(units, limits, int(target_cycles), "cheapest-for-target")


def search_fastest(units: list[Unit], limits: dict[str, float]) -> Folding:
    """The smallest cycles-per-frame whose cheapest folding fits the budget (binary search)."""
    floor = max(min(o.cycles for o in u.options) for u in units)
    cands = sorted({o.cycles for u in units for o in u.options if o.cycles >= floor} | {floor})

    def fits(T):
        f = _choose_within(units, limits, T, "fastest-within-budget")
        return f if f.fits else None

    slowest = fits(cands[-1])
    if slowest is None:
        f = _choose(units, limits, cands[-1], "fastest-within-budget")
        over = {r: f"{f.res[r]:.0f} > {limits[r]:.0f}" for r in RESOURCES if f.res[r] > limits[r]}
        raise FoldingError(f"the network does not fit the budget even fully folded: {over}")
    lo, hi, best = 0, len(cands) - 1, slowest
    while lo < hi:
        mid = (lo + hi) // 2
        f = fits(cands[mid])
        if f is not None:
            best, hi = f, mid
        else:
            lo = mid + 1
    if lo == hi:
        f = fits(cands[lo])
        if f is not None:
            best = f
    best.target_cycles = None
    return best


def apply_choice(model, folding: Folding) -> None:
    _set(model, folding.attrs())

"""Folding: the search respects the budget and meets targets, FINN's JSON round-trips."""
import json
import math

import pytest

from compile import folding as fl
from compile.boards import RESOURCES
from compile.config import Budget
from compile.runner import artefact_path


@pytest.fixture()
def specialized(tiny_vgg_build):
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, _ = tiny_vgg_build
    return cfg, ModelWrapper(str(artefact_path(cfg, "specialize_layers")))


def _cycles_and_res(model, part):
    cyc, res = 0, {r: 0.0 for r in RESOURCES}
    for n in model.graph.node:
        c, rr = fl.node_estimate(n, part)
        cyc = max(cyc, c)
        res = {r: res[r] + rr[r] for r in RESOURCES}
    return cyc, res


def test_fastest_within_budget_respects_the_budget(specialized):
    cfg, model = specialized
    part = cfg.board.part
    units = fl.build_units(model, part)
    loose = Budget().limits(cfg.board)
    fast = fl.search_fastest(units, loose)
    # a LUT budget a quarter of the way from the fully folded network to the fastest folding
    folded = fl._choose(units, loose, max(o.cycles for u in units for o in u.options), "x")
    assert folded.res["LUT"] < fast.res["LUT"]
    tight = dict(loose, LUT=folded.res["LUT"] + 0.25 * (fast.res["LUT"] - folded.res["LUT"]))
    slow = fl.search_fastest(units, tight)
    assert slow.fits and all(slow.res[r] <= tight[r] for r in RESOURCES)
    assert slow.cycles > fast.cycles  # the budget binds, so it is slower
    # the estimate of the applied folding is what the search promised
    fl.apply_choice(model, slow)
    cyc, res = _cycles_and_res(model, part)
    assert cyc == slow.cycles and res["LUT"] <= tight["LUT"]
    # and no cheaper cycle target fits: one option faster at the bottleneck breaks the budget
    faster = [o.cycles for u in units for o in u.options if o.cycles < slow.cycles]
    assert faster, "the budget binds, so a faster option exists"
    assert not fl._choose(units, tight, max(faster), "x").fits


def test_budget_too_small_is_an_error(specialized):
    cfg, model = specialized
    units = fl.build_units(model, cfg.board.part)
    tiny = {r: 1.0 for r in RESOURCES}
    with pytest.raises(fl.FoldingError, match="does not fit"):
        fl.search_fastest(units, tiny)


def test_cheapest_for_target_meets_it_and_beats_finn(specialized):
    """Our per-layer cheapest choice never costs more than FINN's SetFolding for the same target,
    measured with the same (FINN) estimates."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding

    cfg, model = specialized
    part = cfg.board.part
    limits = Budget().limits(cfg.board)
    target = 4096
    units = fl.build_units(model, part)
    ours = fl.search_cheapest(units, limits, target)
    assert ours.cycles <= target and not ours.missed
    finn = model.transform(SetFolding(target, two_pass_relaxation=False))
    fcyc, fres = _cycles_and_res(finn, part)
    assert fcyc <= target
    assert fl._cost(ours.res, limits) <= fl._cost(fres, limits) + 1e-9


def test_unreachable_target_is_reported(specialized):
    cfg, model = specialized
    units = fl.build_units(model, cfg.board.part)
    res = fl.search_cheapest(units, Budget().limits(cfg.board), 10)
    assert res.missed and res.cycles > 10


def test_folding_json_round_trips(tiny_vgg_build, tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, _ = tiny_vgg_build
    written = json.loads(cfg.folding_path.read_text())
    folded = ModelWrapper(str(artefact_path(cfg, "folding")))
    assert fl.extract_folding(folded) == written
    fresh = ModelWrapper(str(artefact_path(cfg, "specialize_layers")))
    assert fl.extract_folding(fresh) != written
    fl.apply_folding(fresh, fl.load_folding(fl.save_folding(written, tmp_path / "f.json")))
    assert fl.extract_folding(fresh) == written
    assert fl.validate_folding(fresh) == []


def test_folding_json_is_checked(specialized, tmp_path):
    cfg, model = specialized
    with pytest.raises(fl.FoldingError, match="no node named"):
        fl.apply_folding(model, {"Defaults": {}, "MVAU_rtl_99": {"PE": 2}})
    with pytest.raises(fl.FoldingError, match="no attribute"):
        fl.apply_folding(model, {"MVAU_rtl_0": {"Bogus": 2}})
    fl.apply_folding(model, {"MVAU_rtl_0": {"PE": 3}})  # 8 output channels: 3 does not divide
    assert any("MVAU_rtl_0: PE=3 must divide 8" in p for p in fl.validate_folding(model))


def test_budget_parsing():
    b = Budget.parse("lut=0.5,dsp=0.25")
    assert (b.LUT, b.DSP, b.BRAM_18K) == (0.5, 0.25, 0.8)
    with pytest.raises(ValueError):
        Budget.parse("lut=1.5")
    with pytest.raises(ValueError):
        Budget.parse("flops=0.5")


def test_weights_in_distributed_ram_are_costed_in_luts_and_offered_only_where_shallow():
    from onnx import helper
    from qonnx.custom_op.registry import getCustomOp

    from compile.mvu_fabric import mvau_rtl_fabric_luts

    def mvau(ram_style, pe=8, simd=80):
        return helper.make_node("MVAU_rtl", ["x", "w"], ["y"], name="m", domain="finn.custom_op.fpgadataflow.rtl",
                                backend="fpgadataflow", MW=80, MH=8, PE=pe, SIMD=simd, inputDataType="INT8",
                                weightDataType="INT4", outputDataType="INT32", noActivation=1,
                                mem_mode="internal_decoupled", ram_style=ram_style)

    # fully parallel: one word of 8 x 80 four-bit weights, at most 32 deep: 14 bits per eight LUTs (RAM32M16)
    assert fl.weight_lutram_luts(mvau("distributed")) == 8 * math.ceil(8 * 80 * 4 / 14)
    # 80 words of 2 x 4 four-bit weights: two 64-deep RAM64M8 of 7 bits per eight LUTs
    assert fl.weight_lutram_luts(mvau("distributed", pe=2, simd=4)) == 2 * 8 * math.ceil(2 * 4 * 4 / 7)
    # left to synthesis ("auto"): at most 64 words deep it is distributed RAM too (synthesis never spends a block
    # RAM on it; FINN's estimate counts one), deeper it stays block RAM as FINN counts it
    assert fl.weight_lutram_luts(mvau("auto")) == fl.weight_lutram_luts(mvau("distributed"))
    assert fl.weight_lutram_luts(mvau("auto", pe=2, simd=4)) == 0
    est = fl.resource_estimate(mvau("distributed"), "xczu7ev-ffvc1156-2-e")
    assert est["BRAM_18K"] == 0
    assert est["LUT"] == fl.weight_lutram_luts(mvau("distributed")) + mvau_rtl_fabric_luts(
        getCustomOp(mvau("distributed")), "xczu7ev-ffvc1156-2-e")  # FINN's own: none
    assert fl.resource_estimate(mvau("auto"), "xczu7ev-ffvc1156-2-e")["BRAM_18K"] == 0
    assert fl.resource_estimate(mvau("auto", pe=2, simd=4), "xczu7ev-ffvc1156-2-e")["BRAM_18K"] > 0
    _, plain = fl._raw_options(None, mvau("auto"))
    assert all("ram_style" not in o["m"] for o in plain)  # off unless asked for: builds as before
    _, opts = fl._raw_options(None, mvau("auto"), lutram_weights=True)
    styles = {(o["m"]["PE"], o["m"]["SIMD"]): [] for o in opts}
    for o in opts:
        styles[(o["m"]["PE"], o["m"]["SIMD"])].append(o["m"]["ram_style"])
    assert styles[(8, 80)] == ["auto", "distributed"]
    assert styles[(1, 1)] == ["auto"]  # 640 words deep: block RAM only


def test_a_folding_over_one_resource_is_rebalanced_onto_another_with_room():
    """Two layers of 100 cycles: the cheapest choice puts both in LUTs, over the LUT budget with DSPs
    unused; rebalancing moves the one that can move into DSPs (an alternative, never taken otherwise)."""
    def unit(name, lut, alt=None):
        opts = [fl.Option({name: {}}, 100, {"LUT": lut, "DSP": 0, "BRAM_18K": 0, "URAM": 0})]
        if alt:
            opts.append(fl.Option({name: {"resType": "dsp"}}, 100, {"LUT": alt[0], "DSP": alt[1], "BRAM_18K": 0,
                                                                     "URAM": 0}, alternative=True))
        return fl.Unit(name, [name], opts)

    units = [unit("a", 60, alt=(10, 40)), unit("b", 30)]
    roomy = {"LUT": 100, "DSP": 100, "BRAM_18K": 10, "URAM": 10}
    assert fl.search_cheapest(units, roomy, 100).attrs() == {"a": {}, "b": {}}  # fits: nothing moves
    tight = dict(roomy, LUT=60)
    f = fl.search_cheapest(units, tight, 100)
    assert f.fits and f.attrs()["a"] == {"resType": "dsp"} and f.res["LUT"] == 40 and f.res["DSP"] == 40
    # no room in DSPs either: the cheapest folding stands, over the budget as before
    f = fl.search_cheapest(units, dict(tight, DSP=20), 100)
    assert not f.fits and f.attrs()["a"] == {}


def test_rtl_vvau_products_may_move_to_dsps_only_as_a_rebalancing_alternative(tiny_bacalhau_build):
    from qonnx.core.modelwrapper import ModelWrapper

    cfg, _ = tiny_bacalhau_build
    model = ModelWrapper(str(artefact_path(cfg, "specialize_layers")))
    vvaus = [n for n in model.graph.node if n.op_type == "VVAU_rtl"]
    assert vvaus
    units = {u.name: u for u in fl.build_units(model, cfg.board.part)}
    for node in vvaus:
        inst = fl._inst(node)
        unit = next(u for u in units.values() if node.name in u.nodes)
        plain = [o for o in unit.options if not o.alternative]
        moved = [o for o in unit.options if o.alternative]
        assert len(plain) == len(moved)
        assert {o.attrs[node.name]["resType"] for o in moved} == {"lut" if inst.use_dsp() else "dsp"}
        # the same parallelism, with the products' cost moved between LUTs and DSP slices
        for p, m in zip(plain, moved):
            assert {k: v for k, v in m.attrs[node.name].items() if k != "resType"} == p.attrs[node.name]
            assert (m.res["DSP"] > p.res["DSP"]) == (not inst.use_dsp())
            assert (m.res["LUT"] < p.res["LUT"]) == (not inst.use_dsp())
        assert inst.get_nodeattr("resType") == "auto"  # the model is left as found

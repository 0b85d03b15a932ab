"""MVAU_rtl's output queue under back-pressure at one result per cycle (MW == SIMD): a single-node
reproducer of the defect that compile/rtl_overlay/0003-mvu_vvu_axi-output-queue-depth.patch fixes
(docs/upstream/mvau_rtl_output_queue.md).

A single MVAU node is built programmatically (MW == SIMD, PE=4 of MH=64: 16 results per input vector,
one per cycle), specialised to MVAU_rtl for the ZCU104 part (DSP48E2,
VERSION=2), its code generated with PrepareIP, and streamed through Verilator by
compile.rtlsim.node.check_node with the output ready 30% of the cycles:

* with finn-plus 1.6.1's finn-rtllib as installed, plus only the overlay's Verilator syntax patches
  (0001, 0002: the installed add_multi.sv does not verilate at all), the queue overflows;
* with the whole overlay (0003 included) the output is bit-exact with FINN's Python model.

research/mvau_queue_sweep.py runs the same for many SIMD values (and DSP58 / VVAU on a Versal part) with the
same helpers (compile/rtlsim/single_node.py).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from compile.rtlsim.single_node import FIX, mvau_model, rtllib_without, run_check

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finn_env(tmp_path_factory):
    from compile.finnenv import init_finn
    from finn.util.settings import get_settings

    root = tmp_path_factory.mktemp("mvau_queue")
    init_finn(root / "codegen")  # its rtllib/ sibling is the full overlay (0003 included)
    fixed = Path(get_settings().finn_rtllib)
    assert FIX in (fixed / "OVERLAY.json").read_text()
    return root, fixed, rtllib_without(root / "rtllib_upstream")


# SIMD 6: not a power of two, the queue is two entries short; SIMD 8: a power of two, one entry short.
@pytest.mark.parametrize("simd", [6, 8])
def test_mvau_rtl_output_queue_overflows_upstream_and_is_exact_with_the_overlay(finn_env, simd):
    from compile.rtlsim.sim import SimulationError

    root, fixed, upstream = finn_env
    model, name = mvau_model(simd, root / f"m{simd}")
    with pytest.raises(SimulationError, match="Overflowing output queue"):
        run_check(model, name, upstream, root / f"up{simd}")
    c = run_check(model, name, fixed, root / f"fix{simd}")
    assert c.bit_exact, c.first_mismatch
    assert c.cycles_per_frame > 2 * c.expected_cycles  # the back-pressure did throttle it

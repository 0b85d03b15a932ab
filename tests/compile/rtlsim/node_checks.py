"""The check every single-layer RTL test makes: the layer streamed through Verilator at full rate and under
back-pressure (one verilation, reused), bit-exact each time, and at full rate within 2% of the cycles
FINN's get_exp_cycles expects."""
from __future__ import annotations

FRAMES = 3
RATES = (1.0, 0.5)  # ready_prob = valid_prob
CYCLE_TOLERANCE = 0.02  # measured cycles per frame at full rate vs get_exp_cycles


def check_at_rates(model, name: str, work_dir, seed: int = 1) -> None:
    from finn.util.settings import get_settings

    from compile.rtlsim.node import check_node

    for rate in RATES:
        c = check_node(model, name, work_dir, get_settings().finn_rtllib, frames=FRAMES, ready_prob=rate,
                       valid_prob=rate, seed=seed)
        assert c.bit_exact, (name, rate, c.mismatches, c.first_mismatch)
        if rate == 1.0:
            assert abs(c.cycles_per_frame - c.expected_cycles) <= CYCLE_TOLERANCE * c.expected_cycles, c

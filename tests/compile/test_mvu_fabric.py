"""compile/mvu_fabric.py and the lane slicing it shares with dsp_packing.py, against mvu.sv's rules."""
import pytest

from compile.dsp_packing import lane_widths, mvu_lanes
from compile.mvu_fabric import adder_tree_bits


@pytest.mark.parametrize("wb, ab, accu, narrow, version", [
    (4, 4, 11, False, 2), (8, 8, 18, False, 2), (3, 4, 10, True, 2), (4, 8, 13, False, 2), (2, 2, 30, False, 1),
    (4, 4, 16, False, 3)])
def test_lanes_fill_the_a_input_as_mvu_sv_slices_them(wb, ab, accu, narrow, version):
    widths = lane_widths(wb, ab, accu, narrow, version)
    a_width, p_width = 25 + 2 * (version > 1), 48 + 10 * (version > 2)
    assert len(widths) == mvu_lanes(wb, ab, narrow, version)
    lower = widths[:-1]
    # every lower lane holds a product with its overflow canary, the slack goes to the right (lowest) lanes
    assert all(w >= wb + ab - 1 for w in lower) and lower == sorted(lower, reverse=True)
    assert max(lower, default=0) - min(lower, default=0) <= 1
    # the lower lanes and the top weight fill A exactly; the top lane runs to ACCU_WIDTH within P
    assert not lower or sum(lower) + wb + (not narrow) == a_width
    assert widths[-1] == min(accu, p_width - sum(lower))


def test_adder_trees_take_each_lane_of_each_pipeline():
    widths = [8, 7, 7, 11]  # four lanes
    assert adder_tree_bits(8, 3, widths) == 3 * 2 * 33  # two full pipelines of three slices
    # PE 6: the first pipeline leaves its two lowest lanes idle (mvu.sv's PE_REM)
    assert adder_tree_bits(6, 3, widths) == 3 * (2 * 33 - 8 - 7)


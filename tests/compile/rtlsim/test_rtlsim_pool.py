"""Pool_rtl (compile/hwops): our RTL MaxPool, verilated and streamed against FINN's Python model of Pool,
at full rate and under random back-pressure and input gaps; on tiny_vgg's pools (unsigned, folded) and
on a standalone signed one with several channel folds."""
from __future__ import annotations

import pytest

from compile.runner import artefact_path
from node_checks import check_at_rates, rtl_node_model

pytestmark = pytest.mark.slow





def test_tiny_vgg_pools_are_pool_rtl_and_bit_exact(tiny_vgg_build, tmp_path):
    from qonnx.core.modelwrapper import ModelWrapper

    from compile.finnenv import init_finn

    cfg, _ = tiny_vgg_build
    init_finn(cfg.codegen_dir)
    m = ModelWrapper(str(artefact_path(cfg, "hw_codegen")))
    pools = [n.name for n in m.graph.node if n.op_type.startswith("Pool")]
    assert pools and all(n.startswith("Pool_rtl_") for n in pools), pools
    for name in pools:
        check_at_rates(m, name, tmp_path / name)


def _pool_model(codegen, *, channels, pe, kernel, odims, idt):
    """A graph of one Pool_rtl (MaxPool) node, its HDL generated into `codegen`."""
    import numpy as np

    k = int(np.prod(kernel))
    return rtl_node_model(codegen, "Pool_rtl", [1, *odims, k * channels], [1, *odims, channels], idt,
                          Channels=channels, PE=pe, KernelSize=list(kernel), Function="MaxPool",
                          OutImgDims=list(odims), InputDataType=idt, OutputDataType=idt)


@pytest.mark.parametrize("channels,pe,kernel,idt", [
    (6, 2, (2, 1), "INT4"),  # three channel folds, K = 2, signed
    (3, 3, (3, 3), "INT3"),  # K = 9, 9-bit beats padded to 16, signed
])
def test_signed_folded_pool_rtl_is_bit_exact(tiny_vgg_build, tmp_path, channels, pe, kernel, idt):
    from compile.finnenv import init_finn

    cfg, _ = tiny_vgg_build
    init_finn(cfg.codegen_dir)  # the registry holds Pool_rtl from here on
    m = _pool_model(tmp_path / "codegen", channels=channels, pe=pe, kernel=kernel, odims=(16, 1), idt=idt)
    check_at_rates(m, "Pool_rtl_0", tmp_path / "sim")


def test_pool_impl_style_keeps_unsupported_pools_on_hls():
    from qonnx.core.datatype import DataType

    from compile.hwops import pool_impl_style
    from compile.hwops.pool_rtl import UnsupportedPool

    assert pool_impl_style("MaxPool", DataType["UINT4"], None) == "rtl"
    assert pool_impl_style("MaxPool", DataType["INT8"], "hls") == "hls"
    assert pool_impl_style("AvgPool", DataType["UINT4"], None) == "hls"
    with pytest.raises(UnsupportedPool, match="MaxPool"):
        pool_impl_style("AccPool", DataType["UINT4"], "rtl")


def test_finn_cli_registers_pool_rtl_where_finn_plus_spawns_workers():
    """make bitstream runs finn-plus's CLI through compile/hwops/finn_cli.py; a spawned worker imports it
    as __mp_main__ (runpy.run_path, as multiprocessing's spawn does) and must then know Pool_rtl."""
    import subprocess
    import sys

    from compile.vivado import FINN_CLI

    code = ("import runpy; from onnx import helper; from qonnx.custom_op.registry import getCustomOp\n"
            f"runpy.run_path({str(FINN_CLI)!r}, run_name='__mp_main__')\n"
            "n = helper.make_node('Pool_rtl', ['a'], ['b'], domain='finn.custom_op.fpgadataflow.rtl')\n"
            "print(type(getCustomOp(n)).__module__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert r.stdout.strip().endswith("compile.hwops.pool_rtl"), r.stderr[-2000:]

"""compile/analysis.py: the host's side of the partition, as accelerator.json records it."""
from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper


def test_the_host_ops_are_what_the_parent_graph_runs_around_the_partition(tiny_vgg_build):
    import json

    from compile.analysis import host_ops

    cfg, _ = tiny_vgg_build
    parent = ModelWrapper(str(cfg.parent_path))
    ops = parent.analysis(host_ops)
    names = [n.name for n in parent.graph.node if n.op_type != "StreamingDataflowPartition"]
    assert [e["name"] for e in ops["pre"] + ops["post"]] == names
    assert ops["post"] and all(e["op_type"] in ("Mul", "Add") for e in ops["post"])  # the dequantisation tail
    assert json.loads((cfg.out_dir / "accelerator.json").read_text())["host"] == ops

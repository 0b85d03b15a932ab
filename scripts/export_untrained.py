"""Export a registry network with random weights as a run-folder-like directory (model.onnx + io.json),
for compile/ builds that need a network's structure, not its accuracy (estimates, compile checks).

  python scripts/export_untrained.py bacalhaunet --out .scratch/nets/bacalhaunet_shared \\
      --arg share_residual_quant=true [--arg requant_residual=true] [--batches 5] [--seed 0]
  python scripts/export_untrained.py ours --unroll 8 --out .scratch/nets/ours_unrolled8

`--unroll P` exports the exact P-samples-per-clock form of the (P = 1) network (model/nets/unrolled.py).

Weights are PyTorch's random init; BatchNorm and activation-quantizer statistics come from a few batches
of random frames in training mode, so activations spread over their range. The export is verified
against PyTorch (model.export.verify_export), and its cost is printed (model.cost).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from amc_cli import command  # noqa: E402


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@command
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("net", help="network name in model.nets.NETS")
    ap.add_argument("--out", required=True, help="output directory (model.onnx, io.json)")
    ap.add_argument("--arg", action="append", default=[], metavar="KEY=JSON", help="network argument")
    ap.add_argument("--batches", type=int, default=5, help="random batches for statistics")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unroll", type=int, default=1, metavar="P", help="export `ours` unrolled to P samples per clock")
    a = ap.parse_args()

    torch.set_num_threads(1)
    from model.cost import inference_cost_report
    from model.export import export_qonnx_model, io_description, verify_export, write_io_json
    from model.nets import build_net

    kwargs = {}
    for item in a.arg:
        key, _, val = item.partition("=")
        kwargs[key] = _value(val)
    torch.manual_seed(a.seed)
    net = build_net(a.net, **kwargs)
    g = torch.Generator().manual_seed(a.seed)
    net.train()
    with torch.no_grad():
        for _ in range(a.batches):
            net(torch.randn(64, 2, 1024, generator=g) * 0.7)
    net.eval()
    if a.unroll > 1:
        from model.nets.unrolled import UnrolledOurs

        net = UnrolledOurs(net, a.unroll).eval()
    out = Path(a.out)
    path = export_qonnx_model(net, out / "model.onnx")
    frames = np.random.default_rng(a.seed).normal(0, 0.7, (4, 2, 1024)).astype(np.float32)
    check = verify_export(net, path, frames)
    data = {"kind": "none", "path": None, "note": f"untrained {a.net} {kwargs}" + (f" unrolled to {a.unroll}" if a.unroll > 1 else "")
            + " (scripts/export_untrained.py)"}
    write_io_json(io_description(path, a.net, data), out / "io.json")
    cost = inference_cost_report(path)
    print(json.dumps({"onnx": str(path), "export_check": check, "bit_ops": cost.total_bops,
                      "bit_mem": cost.total_mem_w_bits, "score": cost.score}, indent=2))


if __name__ == "__main__":
    sys.exit(main())

"""Export the quantized 1-D networks compile/ is tested and measured on, as run-folder-like fixtures
(model.onnx + io.json), the way a run exports its network: model.export.export_qonnx_model, the export
checked against PyTorch (verify_export), io.json from io_description. This script uses torch + brevitas;
compile/ and its tests only read the files it writes.

  python scripts/make_compile_fixtures.py            # tiny fixtures -> tests/fixtures/compile/ (committed)
  python scripts/make_compile_fixtures.py --only tiny_bacalhau_rq   # just that one
  python scripts/make_compile_fixtures.py --full     # + full-size nets -> hw/builds/models/ (git-ignored)

Weights are random; BatchNorm statistics come from random frames so that activations spread.

Tiny fixtures, the recipes' own networks (model/nets/, through the registry) in miniature:
- tiny_vgg: `compact`, 3 x (conv k3 with 8 filters, BN, ReLU, maxpool 2), dense 16, classifier; w4a4 and
  the 8-bit input quantizer over [-2, 2) (scale 1/64) every recipe network has.
- tiny_bacalhau*: `bacalhaunet` with kernels 7/5/3, strides 2/1/2, channels 4/4/8 (one residual block),
  otherwise as the full network: 8-bit input over [-3, 3), 6-bit weights and activations, a global max
  pool, the classifier's own signed 8-bit input quantizer after the (non-negative) pool.
  tiny_bacalhau: share_residual_quant (the residual operands share one QuantReLU);
  tiny_bacalhau_rq: + requant_residual (a signed 6-bit QuantIdentity after the add);
  tiny_bacalhau_unshared: as published, the operands on two learned scales (rescaled to integers).
- tiny_polyphase: `ours` with kernels 9/5, channels 4/8, taking 4 I/Q samples per step (polyphase=4): the
  graph starts with the polyphase view (transpose, reshape, transpose) that compile/ moves to the host.
- tiny_unrolled: `ours` at one sample per step (kernels 9/5/3, channels 4/8/8) unrolled to 8
  (model/nets/unrolled.py): block 2's depthwise conv reads 4 phases into 2 (two VVAUs, a fork and a
  join), block 3's reads 2 into 1 (one VVAU).
Tiny fixtures of structures no recipe network has, so networks of this script:
- tiny_dsres (DSRes): a full-conv stem, then a depthwise-separable block whose residual add follows
  max pools and feeds a dense classifier; both operands quantized by one shared activation quantizer.
- tiny_concat (TinyConcat): AaronNet32++'s stem, parallel convolutions concatenated, and the
  GlobalMaxPool its 2021 export holds.
Full-size (--full; random weights, fine for estimates, not accuracy):
- vgg10_w4a4: `vgg10` as recipe vgg10_w4a4_32f (finn-examples' VGG10 for RadioML).
- dsres_full: DSRes with 32 channels and three blocks, in the style of the 2021 challenge winners.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

import brevitas.nn as qnn
from brevitas.quant import Int32Bias

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amc_cli import command  # noqa: E402
from model.export import export_qonnx_model, io_description, verify_export, write_io_json  # noqa: E402
from model.nets import build_net  # noqa: E402
from model.quant import fixed_range_input_quant  # noqa: E402
from model.radioml import FRAME_LEN, N_CLASSES  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "compile"
FULL = ROOT / "hw" / "builds" / "models"
VERIFY_FRAMES = 4


class DSBlock(nn.Module):
    """depthwise k3 -> BN -> act -> pointwise -> BN -> shared act, + skip (on the shared act's scale)."""

    def __init__(self, c: int, shared: qnn.QuantReLU, w: int, a: int):
        super().__init__()
        self.dw = qnn.QuantConv1d(c, c, 3, padding=1, groups=c, weight_bit_width=w, bias=False)
        self.bn1 = nn.BatchNorm1d(c)
        self.act1 = qnn.QuantReLU(bit_width=a)
        self.pw = qnn.QuantConv1d(c, c, 1, weight_bit_width=w, bias=False)
        self.bn2 = nn.BatchNorm1d(c)
        self.shared = shared

    def forward(self, x):
        y = self.act1(self.bn1(self.dw(x)))
        return x + self.shared(self.bn2(self.pw(y)))


class DSRes(nn.Module):
    """Stem conv, then `stages` residual blocks, each followed by a max pool; flatten, classifier."""

    def __init__(self, c: int = 8, stages: int = 1, pool: int = 4, w: int = 4, a: int = 4):
        super().__init__()
        self.inq = qnn.QuantHardTanh(act_quant=fixed_range_input_quant())
        self.stem = qnn.QuantConv1d(2, c, 3, padding=1, weight_bit_width=w, bias=False)
        self.bn0 = nn.BatchNorm1d(c)
        self.pool = nn.MaxPool1d(pool)
        self.acts = nn.ModuleList([qnn.QuantReLU(bit_width=a, return_quant_tensor=i == stages)
                                   for i in range(stages + 1)])
        self.stages = nn.ModuleList([DSBlock(c, self.acts[i], w, a) for i in range(stages)])
        length = FRAME_LEN // pool ** (stages + 1)
        self.fc = qnn.QuantLinear(c * length, N_CLASSES, weight_bit_width=w, bias=True, bias_quant=Int32Bias)

    def forward(self, x):
        x = self.pool(self.acts[0](self.bn0(self.stem(self.inq(x)))))
        for i, blk in enumerate(self.stages):
            x = self.acts[i + 1](self.pool(blk(x)))
        return self.fc(torch.flatten(x, 1))


class TinyConcat(nn.Module):
    """AaronNet32++'s stem in miniature, quantized throughout: three parallel stride-4 convolutions
    (kernels 7/5/3), each with its BatchNorm, concatenated along channels under one activation quantizer;
    a conv k3; a global max pool; a classifier."""

    def __init__(self, c: int = 4, w: int = 4, a: int = 4):
        super().__init__()
        self.inq = qnn.QuantHardTanh(act_quant=fixed_range_input_quant())
        self.branches = nn.ModuleList([
            nn.Sequential(qnn.QuantConv1d(2, c, k, stride=4, padding=k // 2, weight_bit_width=w, bias=False),
                          nn.BatchNorm1d(c)) for k in (7, 5, 3)])
        self.act = qnn.QuantReLU(bit_width=a)
        self.conv = qnn.QuantConv1d(3 * c, 2 * c, 3, padding=1, weight_bit_width=w, bias=False)
        self.bn = nn.BatchNorm1d(2 * c)
        self.act2 = qnn.QuantReLU(bit_width=a, return_quant_tensor=True)
        self.pool = nn.MaxPool1d(FRAME_LEN // 4)  # static, as the recipe networks pool; see as_global_max_pool
        self.fc = qnn.QuantLinear(2 * c, N_CLASSES, weight_bit_width=w, bias=True, bias_quant=Int32Bias)

    def forward(self, x):
        x = self.inq(x)
        x = self.act(torch.cat([b(x) for b in self.branches], dim=1))
        x = self.pool(self.act2(self.bn(self.conv(x))))
        return self.fc(torch.flatten(x, 1))


LOCAL_NETS = {"DSRes": DSRes, "TinyConcat": TinyConcat}


@dataclass(frozen=True)
class Fixture:
    """A network of model.nets' registry (or of LOCAL_NETS) and its arguments, seeded on its own."""

    seed: int
    net: str
    args: dict = field(default_factory=dict)
    unroll: int = 1  # an `ours` unrolled to this many samples per step (model/nets/unrolled.py)
    global_max_pool: bool = False  # the pool before the classifier written as GlobalMaxPool

    def describe(self) -> str:
        unrolled = f" unrolled to {self.unroll}" if self.unroll > 1 else ""
        return f"untrained {self.net} {self.args}{unrolled} (scripts/make_compile_fixtures.py)"


BACALHAU = {"kernels": [7, 5, 3], "strides": [2, 1, 2], "channels": [4, 4, 8]}
TINY = {
    "tiny_vgg": Fixture(1, "compact", {"channels": [8, 8, 8], "kernels": [3, 3, 3], "pools": [2, 2, 2],
                                       "dense": 16, "w_bits": 4, "a_bits": 4}),
    "tiny_dsres": Fixture(2, "DSRes", {"c": 8, "stages": 1, "pool": 4}),
    "tiny_bacalhau": Fixture(5, "bacalhaunet", {**BACALHAU, "share_residual_quant": True}),
    "tiny_bacalhau_rq": Fixture(6, "bacalhaunet", {**BACALHAU, "share_residual_quant": True,
                                                   "requant_residual": True}),
    "tiny_bacalhau_unshared": Fixture(7, "bacalhaunet", BACALHAU),
    "tiny_concat": Fixture(8, "TinyConcat", {"c": 4}, global_max_pool=True),
    "tiny_polyphase": Fixture(9, "ours", {"kernels": [9, 5], "strides": [2, 2], "channels": [4, 8],
                                         "w_bits": 4, "a_bits": 4, "polyphase": 4}),
    "tiny_unrolled": Fixture(10, "ours", {"kernels": [9, 5, 3], "strides": [2, 2, 2], "channels": [4, 8, 8],
                                          "w_bits": 4, "a_bits": 4}, unroll=8),
}
FULL_SIZE = {
    "vgg10_w4a4": Fixture(3, "vgg10", {"filters_conv": 32, "filters_dense": 128, "w_bits": 4, "a_bits": 4}),
    "dsres_full": Fixture(4, "DSRes", {"c": 32, "stages": 3, "pool": 4}),
}


def calibrate(m: nn.Module, seed: int) -> nn.Module:
    """BatchNorm running statistics from random frames, so that activations spread over their range."""
    g = torch.Generator().manual_seed(seed)
    m.train()
    with torch.no_grad():
        for _ in range(4):
            m(torch.randn(64, 2, FRAME_LEN, generator=g) * 0.5)
    return m.eval()


def network(fx: Fixture) -> nn.Module:
    torch.manual_seed(fx.seed)
    net = LOCAL_NETS[fx.net](**fx.args) if fx.net in LOCAL_NETS else build_net(fx.net, **fx.args)
    net = calibrate(net, fx.seed)
    if fx.unroll > 1:
        from model.nets.unrolled import UnrolledOurs

        net = UnrolledOurs(net, fx.unroll).eval()
    return net


def as_global_max_pool(path: Path) -> None:
    """torch exports a pool over the whole length as a MaxPool; AaronNet32++'s 2021 export has a
    GlobalMaxPool there: write the pool in front of the Flatten as that op (same values)."""
    import onnx
    from onnx import helper

    m = onnx.load(str(path))
    flat_inputs = {x for n in m.graph.node if n.op_type == "Flatten" for x in n.input}
    i, n = next((i, n) for i, n in enumerate(m.graph.node) if n.op_type == "MaxPool" and n.output[0] in flat_inputs)
    m.graph.node.remove(n)
    m.graph.node.insert(i, helper.make_node("GlobalMaxPool", list(n.input), list(n.output), name=n.name))
    onnx.save(m, str(path))


def export(name: str, fx: Fixture, out_dir: Path) -> Path:
    """model.onnx checked against the torch network on random frames, and its io.json."""
    net = network(fx)
    path = export_qonnx_model(net, out_dir / "model.onnx")
    if fx.global_max_pool:
        as_global_max_pool(path)
    frames = np.random.default_rng(fx.seed).normal(0, 0.5, (VERIFY_FRAMES, 2, FRAME_LEN)).astype(np.float32)
    verify_export(net, path, frames)
    data = {"kind": "none", "path": None, "note": f"compile fixture: {fx.describe()}"}
    write_io_json(io_description(path, name, data), out_dir / "io.json")
    print(f"{path} ({path.stat().st_size / 1024:.0f} KiB)")
    return path


@command
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also the full-size networks (hw/builds/models/)")
    ap.add_argument("--only-full", action="store_true", help="only the full-size networks")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="only this tiny fixture")
    a = ap.parse_args()
    unknown = set(a.only) - set(TINY)
    if unknown:
        ap.error(f"unknown fixture(s) {sorted(unknown)}; known: {', '.join(TINY)}")
    torch.set_num_threads(1)
    if not a.only_full:
        for name, fx in TINY.items():
            if not a.only or name in a.only:
                export(name, fx, FIXTURES / name)
    if a.full or a.only_full:
        for name, fx in FULL_SIZE.items():
            export(name, fx, FULL / name)


if __name__ == "__main__":
    sys.exit(main())

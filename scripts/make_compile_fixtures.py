"""Export the quantized 1-D networks compile/ is tested and measured on, as run-folder-like fixtures
(model.onnx + io.json in the README's format). This script uses torch + brevitas; compile/ and its
tests only read the files it writes.

  python scripts/make_compile_fixtures.py            # tiny fixtures -> tests/fixtures/compile/ (committed)
  python scripts/make_compile_fixtures.py --only tiny_bacalhau_rq   # just that one
  python scripts/make_compile_fixtures.py --full     # + full-size nets -> hw/builds/models/ (git-ignored)

Tiny fixtures (random weights, BatchNorm statistics calibrated on random frames so activations spread):
- tiny_vgg:   VGG-like, 4-bit weights and activations, 8-bit input quantizer over [-2, 2) (scale 1/64),
              3 x (conv k3, BN, ReLU, maxpool 2) with 8 filters, dense 16, dense 24 (with bias).
- tiny_dsres: depthwise-separable block with a residual add (both operands quantized by one shared
              activation quantizer, so FINN can stream the join), maxpools, dense 24.
- tiny_bacalhau*: model.nets.bacalhaunet.BacalhauNet in miniature (kernels 7/5/3, strides 2/1/2, channels
              4/4/8; one residual block), with what the full network has: an 8-bit QuantHardTanh input
              over [-2, 3], 6-bit weights and activations, a global max pool, and a classifier whose own
              signed 8-bit input quantizer follows the (non-negative) pool.
              tiny_bacalhau: share_residual_quant (the residual operands share one QuantReLU);
              tiny_bacalhau_rq: + requant_residual (a signed 6-bit QuantIdentity after the add);
              tiny_bacalhau_unshared: as published, the operands on two learned scales (rescaled to integers).
- tiny_concat: parallel stem convolutions concatenated (Concat) and a GlobalMaxPool, as AaronNet32++ has.
- tiny_polyphase: model.nets.ours.Ours in miniature (kernels 9/5, channels 4/8) taking 4 I/Q samples per
              step (polyphase=4): the graph starts with the polyphase view (transpose, reshape,
              transpose) that compile/ moves to the host.
- tiny_unrolled: that miniature at one sample per step (kernels 9/5/3, channels 4/8/8) unrolled to 8
              (model/nets/unrolled.py): block 2's depthwise conv reads 4 phases into 2 (two VVAUs, a fork
              and a join, compile/transforms/unrolled_depthwise.py), block 3's reads 2 into 1 (one VVAU).
Full-size (on demand; weights random, fine for estimates, not accuracy):
- vgg10_w4a4: finn-examples' VGG10 for RadioML: 7 x (conv k3, 32 filters), dense 128, 128, 24, w4a4.
- dsres_full: a larger depthwise-separable residual net in the style of the 2021 challenge winners.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn as nn

import brevitas.nn as qnn
from brevitas.export import export_qonnx
from brevitas.inject.enum import ScalingImplType
from brevitas.quant import Int8ActPerTensorFloatMinMaxInit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from amc_cli import command  # noqa: E402

CLASSES = ["OOK", "4ASK", "8ASK", "BPSK", "QPSK", "8PSK", "16PSK", "32PSK", "16APSK", "32APSK", "64APSK",
           "128APSK", "16QAM", "32QAM", "64QAM", "128QAM", "256QAM", "AM-SSB-WC", "AM-SSB-SC", "AM-DSB-WC",
           "AM-DSB-SC", "FM", "GMSK", "OQPSK"]


class InputQuant(Int8ActPerTensorFloatMinMaxInit):
    """8-bit signed input quantizer over [-2, 2): scale 4/256 = 1/64."""

    bit_width = 8
    min_val = -2.0
    max_val = 2.0
    scaling_impl_type = ScalingImplType.CONST


def vgg(filters: int, n_conv: int, dense: int, w: int = 4, a: int = 4, n_dense_hidden: int = 1) -> nn.Module:
    layers: list[nn.Module] = [qnn.QuantHardTanh(act_quant=InputQuant)]
    c = 2
    for _ in range(n_conv):
        layers += [qnn.QuantConv1d(c, filters, 3, padding=1, weight_bit_width=w, bias=False),
                   nn.BatchNorm1d(filters), qnn.QuantReLU(bit_width=a), nn.MaxPool1d(2)]
        c = filters
    n = filters * (1024 >> n_conv)
    layers.append(nn.Flatten())
    for _ in range(n_dense_hidden):
        layers += [qnn.QuantLinear(n, dense, weight_bit_width=w, bias=False), nn.BatchNorm1d(dense),
                   qnn.QuantReLU(bit_width=a)]
        n = dense
    layers.append(qnn.QuantLinear(n, 24, weight_bit_width=w, bias=True))
    return nn.Sequential(*layers)


class DSBlock(nn.Module):
    """depthwise k3 -> BN -> act -> pointwise -> BN -> shared act, + skip (shared act)."""

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
    def __init__(self, c: int = 8, stages: int = 1, pool: int = 4, w: int = 4, a: int = 4):
        super().__init__()
        self.inq = qnn.QuantHardTanh(act_quant=InputQuant)
        self.stem = qnn.QuantConv1d(2, c, 3, padding=1, weight_bit_width=w, bias=False)
        self.bn0 = nn.BatchNorm1d(c)
        self.pool = nn.MaxPool1d(pool)
        self.stages = nn.ModuleList()
        self.acts = nn.ModuleList([qnn.QuantReLU(bit_width=a) for _ in range(stages + 1)])
        for i in range(stages):
            self.stages.append(DSBlock(c, self.acts[i], w, a))
        length = 1024 // pool ** (stages + 1)
        self.fc = qnn.QuantLinear(c * length, 24, weight_bit_width=w, bias=True)

    def forward(self, x):
        x = self.pool(self.acts[0](self.bn0(self.stem(self.inq(x)))))
        for i, blk in enumerate(self.stages):
            x = self.acts[i + 1](self.pool(blk(x)))
        return self.fc(torch.flatten(x, 1))


class TinyConcat(nn.Module):
    """AaronNet32++'s stem in miniature, quantized throughout: three parallel stride-4 convolutions
    (kernels 7/5/3), each with its BatchNorm, concatenated along channels under one activation quantizer;
    a conv k3; a global max pool (exported as GlobalMaxPool); a classifier with bias."""

    def __init__(self, c: int = 4, w: int = 4, a: int = 4):
        super().__init__()
        self.inq = qnn.QuantHardTanh(act_quant=InputQuant)
        self.branches = nn.ModuleList([
            nn.Sequential(qnn.QuantConv1d(2, c, k, stride=4, padding=k // 2, weight_bit_width=w, bias=False),
                          nn.BatchNorm1d(c)) for k in (7, 5, 3)])
        self.act = qnn.QuantReLU(bit_width=a)
        self.conv = qnn.QuantConv1d(3 * c, 2 * c, 3, padding=1, weight_bit_width=w, bias=False)
        self.bn = nn.BatchNorm1d(2 * c)
        self.act2 = qnn.QuantReLU(bit_width=a)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.fc = qnn.QuantLinear(2 * c, 24, weight_bit_width=w, bias=True)

    def forward(self, x):
        x = self.inq(x)
        x = self.act(torch.cat([b(x) for b in self.branches], dim=1))
        x = self.pool(self.act2(self.bn(self.conv(x))))
        return self.fc(torch.flatten(x, 1))


def tiny_bacalhau(**kw) -> nn.Module:
    sys.path.insert(0, str(ROOT))
    from model.nets.bacalhaunet import BacalhauNet

    return BacalhauNet(kernels=(7, 5, 3), strides=(2, 1, 2), channels=(4, 4, 8), **kw)


def tiny_polyphase() -> nn.Module:
    sys.path.insert(0, str(ROOT))
    from model.nets.ours import Ours

    return Ours(kernels=(9, 5), strides=(2, 2), channels=(4, 8), w_bits=4, a_bits=4, polyphase=4)


def tiny_unrolled(seed: int) -> nn.Module:
    sys.path.insert(0, str(ROOT))
    from model.nets.ours import Ours
    from model.nets.unrolled import UnrolledOurs

    net = calibrate(Ours(kernels=(9, 5, 3), strides=(2, 2, 2), channels=(4, 8, 8), w_bits=4, a_bits=4), seed)
    return UnrolledOurs(net, 8).eval()


def calibrate(m: nn.Module, seed: int) -> nn.Module:
    """BatchNorm running statistics from random frames, so that activations spread over their range."""
    g = torch.Generator().manual_seed(seed)
    m.train()
    with torch.no_grad():
        for _ in range(4):
            m(torch.randn(64, 2, 1024, generator=g) * 0.5)
    return m.eval()


def io_json(name: str) -> dict:
    return {
        "format": "amc-fpga-io/1",
        "input": {"name": "global_in", "shape": [1, 2, 1024], "layout": "NCW",
                  "quant": {"bit_width": 8, "signed": True, "narrow": False, "scale": 0.015625,
                            "zero_point": 0.0, "min": -2.0, "max": 1.984375}},
        "output": {"name": "global_out", "shape": [1, 24], "kind": "logits"},
        "classes": CLASSES,
        "snrs_db": list(range(-20, 32, 2)),
        "frame_length": 1024,
        "model": name,
        "data": {"kind": "none", "path": None, "note": "compile fixture: random weights"},
    }


def as_global_max_pool(path: Path) -> None:
    """torch exports AdaptiveMaxPool1d(1) as a MaxPool over the whole length; AaronNet32++'s 2021 export
    has a GlobalMaxPool there: write the pool as that op (same values), so the fixture holds it."""
    import onnx
    from onnx import helper

    m = onnx.load(str(path))
    for i, n in enumerate(m.graph.node):
        if n.op_type == "MaxPool" and n.output[0] in {x for c in m.graph.node if c.op_type == "Flatten"
                                                      for x in c.input}:
            m.graph.node.remove(n)
            m.graph.node.insert(i, helper.make_node("GlobalMaxPool", list(n.input), list(n.output), name=n.name))
            break
    onnx.save(m, str(path))


def export(m: nn.Module, name: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.onnx"
    export_qonnx(m, torch.randn(1, 2, 1024), export_path=str(path), dynamo=False)
    desc = io_json(name)
    if name.startswith("tiny_bacalhau"):  # its input quantizer is not [-2, 2): describe the graph's
        sys.path.insert(0, str(ROOT))
        from model.export import input_quant_of_graph
        from qonnx.core.modelwrapper import ModelWrapper

        q = input_quant_of_graph(ModelWrapper(str(path)))
        desc["input"]["quant"] = {k: q[k] for k in ("bit_width", "signed", "narrow", "scale", "zero_point",
                                                    "min", "max")}
    if name == "tiny_concat":
        as_global_max_pool(path)
    (out_dir / "io.json").write_text(json.dumps(desc, indent=2) + "\n")
    print(f"{path} ({path.stat().st_size / 1024:.0f} KiB)")
    return path


@command
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also the full-size networks (hw/builds/models/)")
    ap.add_argument("--only-full", action="store_true", help="only the full-size networks")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="only this tiny fixture")
    a = ap.parse_args()
    torch.manual_seed(0)
    fix = ROOT / "tests" / "fixtures" / "compile"
    # each fixture seeded on its own, except the first two, which share one seeded sequence (as they
    # were first generated) and are therefore always made together
    tiny = {
        "tiny_bacalhau": lambda: calibrate(tiny_bacalhau(share_residual_quant=True), 5),
        "tiny_bacalhau_rq": lambda: calibrate(tiny_bacalhau(share_residual_quant=True, requant_residual=True), 6),
        "tiny_bacalhau_unshared": lambda: calibrate(tiny_bacalhau(), 7),
        "tiny_polyphase": lambda: calibrate(tiny_polyphase(), 9),
        "tiny_concat": lambda: calibrate(TinyConcat(), 8),
        "tiny_unrolled": lambda: tiny_unrolled(10),
    }
    unknown = set(a.only) - set(tiny) - {"tiny_vgg", "tiny_dsres"}
    if unknown:
        ap.error(f"unknown fixture(s) {sorted(unknown)}; known: tiny_vgg, tiny_dsres, {', '.join(tiny)}")
    if not a.only_full:
        if not a.only or {"tiny_vgg", "tiny_dsres"} & set(a.only):
            export(calibrate(vgg(filters=8, n_conv=3, dense=16), 1), "tiny_vgg", fix / "tiny_vgg")
            export(calibrate(DSRes(c=8, stages=1, pool=4), 2), "tiny_dsres", fix / "tiny_dsres")
        for name, make in tiny.items():
            if not a.only or name in a.only:
                torch.manual_seed(0)
                export(make(), name, fix / name)
    if a.full or a.only_full:
        big = ROOT / "hw" / "builds" / "models"
        export(calibrate(vgg(filters=32, n_conv=7, dense=128, n_dense_hidden=2), 3), "vgg10_w4a4",
               big / "vgg10_w4a4")
        export(calibrate(DSRes(c=32, stages=3, pool=4), 4), "dsres_full", big / "dsres_full")


if __name__ == "__main__":
    sys.exit(main())

"""Imperial_IPC1, an entry to the 2021 RadioML challenge: a statistics branch beside a strided-conv branch.

Two branches see the same float frame (1, 2, 1024):

- statistics: 32 hand-made features (below), a 5/6-bit quantizer over [-1, 1], QuantLinear 32->32, BN, ReLU;
- conv: AvgPool 2, a quantizer over [-2, 2], 7 x [QuantConv1d k3 stride 2, BN, ReLU] (512 -> 4 samples),
  QuantLinear 256->128, BN, ReLU;

concatenated (128 + 32) into the classifier QuantLinear 160->128, BN, ReLU, QuantLinear 128->24. Two
auxiliary heads (one per branch) exist only to train: in training mode `forward` returns
(logits, [conv_head_logits, statistics_head_logits]); in eval mode, and so in the exported graph, only the
logits. Module names and indices are the team's, so their checkpoints load with strict=True.

The 32 statistics, as the team defines them (x = I + jQ, means over the frame):
  - mean and 2nd/3rd/4th central moments of I and of Q (8);
  - "cumulants" C20, C21, C40, C41, C42, C60, C61, C62, C63 as (real, imag) pairs (18). They are built from
    M20 = x^2, M21 = x x*, M22 = x*^2 and products of those, with the team's own quirks kept: C42 subtracts
    |M20|^4 (their complex_abs already returns |.|^2 and is squared again) where the literature has |M20|^2,
    and no roots are taken of the 4th/6th-order terms;
  - the (unbiased) standard deviation of instantaneous amplitude, unwrapped phase and frequency of the
    analytic signals of I and of Q taken separately (6), each normalised by its maximum over the frame.

The statistics are the team's eval-time formulation (their FinalModelWithMoments), operation for operation
where it matters for rounding; SignalStatistics says how training, eval and export compute them. The
exported graph holds about 14.7 M multiplies per frame in Mul-by-table + Reduce nodes that the challenge's
cost function does not count (model.cost names the Reduce, Atan, Pow, ... operators).

Their published figures (README of their entry) against this network with the pruned checkpoint
(tests/model/test_imperial.py): "6-bit + pruning" (w_bits=a_bits=in_bits=6) 30614424 bit ops / 312204 bit mem;
"+ lowered bit levels", their final evaluation (w_bits=a_bits=in_bits=5, last_conv_w_bits=
last_conv_a_bits=4), 21084790 / 242983, score 0.1106. Bit mem matches exactly for both. Bit ops come out
lower by exactly MACs(classifier.0) x w_bits x (32 - a_bits) (802932 and 687825): in 2021 the datatype
inference did not pass through Concat, so the classifier's first layer was costed on a FLOAT32 input;
qonnx 1.0 propagates Concat's input type and costs it at a_bits.
"""

from __future__ import annotations

import math

import brevitas.nn as qnn
import torch
from brevitas.quant import Int32Bias
from torch import nn
from torch.nn import functional as F

from model.quant import fixed_range_input_quant
from model.radioml import FRAME_LEN, N_CLASSES

N_STATISTICS = 32
N_CONV_BLOCKS = 7


def _diff(x: torch.Tensor) -> torch.Tensor:
    """np.diff along the last axis, left-padded with one zero so the length is kept."""
    return F.pad(x[..., 1:] - x[..., :-1], (1, 0))


def _atan2(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
    """atan2(im, re) from atan and sign, the team's formulation (ONNX had no Atan2)."""
    s_re, s_im = torch.sign(re), torch.sign(im)
    return s_re**2 * torch.atan(im / re) + (1 - s_re) / 2 * (1 + s_im - s_im**2) * math.pi


# _SQUARE: a square is written v**2 (Pow), never v * v: qonnx 1.0's tensor renaming (run by its cleanup and
# by the cost function) renames only the first of two identical inputs of a node, leaving Mul(t, t) with a
# dangling input that no longer executes. v**2 rounds exactly as v * v.


def _std(v: torch.Tensor, n: int) -> torch.Tensor:
    """Unbiased standard deviation along the last axis (length n), written out: torch.std exports a shape
    computation, and rounds differently from ONNX anyway (this differs from torch.std by about 1 ulp)."""
    d = v - torch.mean(v, dim=-1, keepdim=True)
    return torch.sqrt(torch.sum(d**2, dim=-1) / (n - 1))  # d**2, not d*d: see _SQUARE


def _complex_signs(conj_a: list[bool], conj_b: list[bool]) -> torch.Tensor:
    """(2, 2, K) table of +-1 for _cmul: rows (real, imag), columns the two products summed in each."""
    sa = torch.tensor([-1.0 if c else 1.0 for c in conj_a])
    sb = torch.tensor([-1.0 if c else 1.0 for c in conj_b])
    return torch.stack([torch.stack([torch.ones_like(sa), -sa * sb]), torch.stack([sb, sa])])


def _cmul(a: torch.Tensor, b: torch.Tensor, signs: torch.Tensor, swap: torch.Tensor) -> torch.Tensor:
    """Complex products of stacks (B, 2, K, ...) holding (real, imag) in dim 1, K quantities in dim 2.

    real = a0 b0 - sa sb a1 b1 and imag = sb a0 b1 + sa a1 b0, with sa, sb = -1 where `signs` conjugates
    an operand: the same products, sign flips and single additions as the written-out formulas, so the
    same roundings, in five graph nodes. `swap` is [[0, 1], [1, 0]].
    """
    products = a.unsqueeze(1) * b[:, swap] * signs  # (B, 2, 2, K, ...): (a0 b0, a1 b1), (a0 b1, a1 b0)
    return torch.sum(products, dim=2)


# The team's cumulants, from means M_pq of products of x (p factors, q of them conjugated), built as
# M20 = x x, M21 = x x*, M22 = x* x*, M4k = M20 M2k (k < 3), M43 = M21 M22, M6k = M40 M2k (k < 3),
# M63 = M41 M22, each averaged over the frame. Then, in their order of terms:
#   C40 = M40 - 3 M20^2                    C41 = M41 - 3 M20 M21
#   C42 = M42 - |M20|^4 - 2 M21^2          C60 = M60 - 15 M20 M40 + 30 M20^3
#   C61 = M61 - 5 M21 M40 - 10 M20 M41 + 30 M21 M20^2
#   C62 = M62 - 6 M20 M42 - 8 M21 M41 - M22 M40 + 6 M22 M20^2 + 24 M20 M21^2
#   C63 = M63 - 9 M21 M42 + 12 M21^3 - 3 M20 M43 - 3 M22 M41 + 18 M20 M21 M22
# (|M20|^4 is theirs: the literature has |M20|^2.) They are evaluated on stacks, a few wide graph nodes
# instead of hundreds of narrow ones, term by term in this order, so every rounding is the same.
_MEANS = ("20", "21", "22", "40", "41", "42", "43", "60", "61", "62", "63")
_PAIRS = (("20", "20"), ("20", "21"), ("21", "21"), ("20", "40"), ("21", "40"), ("20", "41"), ("20", "42"),
          ("21", "41"), ("22", "40"), ("21", "42"), ("20", "43"), ("22", "41"), ("21", "22"))
_TRIPLES = (("20", ("20", "20")), ("21", ("20", "20")), ("22", ("20", "20")), ("20", ("21", "21")),
            ("21", ("21", "21")), ("20", ("21", "22")))
_ABS4 = "|M20|^4"
_CUMULANT_TERMS = {
    "40": ((-3, ("20", "20")),),
    "41": ((-3, ("20", "21")),),
    "42": ((-1, _ABS4), (-2, ("21", "21"))),
    "60": ((-15, ("20", "40")), (30, ("20", ("20", "20")))),
    "61": ((-5, ("21", "40")), (-10, ("20", "41")), (30, ("21", ("20", "20")))),
    "62": ((-6, ("20", "42")), (-8, ("21", "41")), (-1, ("22", "40")), (6, ("22", ("20", "20"))),
           (24, ("20", ("21", "21")))),
    "63": ((-9, ("21", "42")), (12, ("21", ("21", "21"))), (-3, ("20", "43")), (-3, ("22", "41")),
           (18, ("20", ("21", "22")))),
}


def _cumulant_tables() -> dict[str, torch.Tensor]:
    """Gather indices, signs and coefficients that evaluate the moments and _CUMULANT_TERMS on stacks."""
    m = {name: i for i, name in enumerate(_MEANS)}
    col = {t: i for i, t in enumerate((*_PAIRS, *_TRIPLES, _ABS4))}
    depth = max(len(t) for t in _CUMULANT_TERMS.values())
    idx = torch.zeros(depth, len(_CUMULANT_TERMS), dtype=torch.long)
    coef = torch.zeros(depth, len(_CUMULANT_TERMS))
    for j, terms in enumerate(_CUMULANT_TERMS.values()):
        for step in range(depth):
            # fewer terms: add 0 x (own first term), which is exact
            c, t = terms[step] if step < len(terms) else (0, terms[0][1])
            idx[step, j], coef[step, j] = col[t], c
    return {
        "swap": torch.tensor([[0, 1], [1, 0]]),
        # M20, M21, M22 from x: conjugate neither, the second, both
        "signs_m2": _complex_signs([False, False, True], [False, True, True]).unsqueeze(-1),
        "signs_frames": _complex_signs([False], [False]).unsqueeze(-1),  # against (B, 2, 2, K, N)
        "signs_means": _complex_signs([False], [False]),  # against (B, 2, 2, K)
        "m4_a": torch.tensor([m[a] for a in ("20", "20", "20", "21")]),  # M40, M41, M42, M43 from M2k
        "m4_b": torch.tensor([m[b] for b in ("20", "21", "22", "22")]),
        "m6_a": torch.tensor([0, 0, 0, 1]),  # M60, M61, M62, M63 = (M40, M40, M40, M41 in m4) x m4_b
        "pair_a": torch.tensor([m[a] for a, _ in _PAIRS]),
        "pair_b": torch.tensor([m[b] for _, b in _PAIRS]),
        "triple_a": torch.tensor([m[a] for a, _ in _TRIPLES]),
        "triple_b": torch.tensor([_PAIRS.index(p) for _, p in _TRIPLES]),
        "base": torch.tensor([m[c] for c in _CUMULANT_TERMS]),
        "term_idx": idx,
        "term_coef": coef.unsqueeze(1),  # (depth, 1, n_cumulants): row `step` against (B, 2, n_cumulants)
    }


class SignalStatistics(nn.Module):
    """(B, 2, N) float frames -> (B, 32) statistics. No parameters; its tables are non-persistent buffers.

    The analytic signal (a Hilbert transform by DFT) and the phase unwrap's cumulative sum are computed
    three ways, all with the team's definitions:
      - training mode: torch.fft and cumsum, as the team trained (fast, exact DFT);
      - eval mode: their DFT tables (float32 angles 2*pi/N * k*n, exactly as they built them, with the phase
        error that float32 angles up to 6.4e3 rad carry), applied by matmul, and cumsum;
      - export: the same tables applied as the team exported them, a Mul by the table and a ReduceSum/
        ReduceMean, and the cumulative sum as a Mul by a triangular matrix and a ReduceSum. These are the
        graph the challenge scored: its cost function counts Mul as free and does not know the Reduce ops,
        so these 14,680,064 float multiply-adds per frame cost nothing in its figures (costed as the
        equivalent 32 x 32-bit MatMuls they would be 15.0 G bit ops, 18.6 x the baseline's, and the tables
        235 M bits of weights). model.cost names the operators.
    Eval and export apply the same tables in different orders of summation: they agree to float rounding,
    which verify_export checks on the logits.
    """

    def __init__(self, frame_len: int = FRAME_LEN):
        super().__init__()
        self.frame_len = frame_len
        n = torch.arange(frame_len, dtype=torch.float32)
        kn = n.unsqueeze(1) * n.unsqueeze(0)  # exact in float32 (N^2 < 2^24)
        angle = 2 * math.pi / frame_len * kn  # float32, as the team computed it
        cos, sin = torch.cos(angle), torch.sin(angle)
        h = torch.zeros(frame_len)
        h[0] = h[frame_len // 2] = 1.0
        h[1 : frame_len // 2] = 2.0
        # DFT [part, n, k]: re = sum_n x_n cos, im = sum_n x_n (-sin)
        self.register_buffer("dft", torch.stack([cos, -sin]), persistent=False)
        # inverse DFT [out part, spectrum part, k, n]: re = mean_k (sr cos - si sin), im = mean_k (sr sin + si cos)
        self.register_buffer("idft", torch.stack([torch.stack([cos, -sin]), torch.stack([sin, cos])]),
                             persistent=False)
        self.register_buffer("cumsum_tri", torch.triu(torch.ones(frame_len, frame_len)), persistent=False)
        self.register_buffer("hilbert_h", h, persistent=False)
        for name, table in _cumulant_tables().items():
            self.register_buffer(name, table, persistent=False)

    # --- analytic signal: (B, C, N) real -> (B, C, 2, N) with (real, imag) in dim 2 -------------------------
    def _analytic_fft(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.fft(x) * self.hilbert_h
        return torch.view_as_real(torch.fft.ifft(spec, dim=-1)).transpose(2, 3)

    def _analytic_tables(self, x: torch.Tensor) -> torch.Tensor:
        n = self.frame_len
        if torch.onnx.is_in_onnx_export():  # the team's graph: Mul by the table, then Reduce
            spec = torch.sum(x[:, :, None, :, None] * self.dft, dim=3) * self.hilbert_h  # (B, C, 2, N)
            both = spec[:, :, None, :, :, None] * self.idft  # (B, C, 2, 2, N, N): [out, spectrum part, k, n]
            return torch.mean(torch.sum(both, dim=3), dim=3)
        b, c = x.shape[:2]
        dft = self.dft.permute(1, 0, 2).reshape(n, 2 * n)  # [n, (part, k)]
        spec = (x.reshape(b * c, n) @ dft).reshape(b, c, 2, n) * self.hilbert_h
        idft = self.idft.permute(1, 2, 0, 3).reshape(2 * n, 2 * n)  # [(spectrum part, k), (out, n)]
        return (spec.reshape(b * c, 2 * n) @ idft).reshape(b, c, 2, n) / n

    def _cumsum(self, v: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():  # the team's graph: Mul by a triangular matrix, then ReduceSum
            return torch.sum(self.cumsum_tri * v.unsqueeze(-1), dim=-2)
        return torch.cumsum(v, dim=-1)

    def _unwrap(self, p: torch.Tensor) -> torch.Tensor:
        """np.unwrap along the last axis (discontinuity pi)."""
        dp = _diff(p)
        shifted = dp + math.pi
        # floor-mod written out, so PyTorch and the exported graph round it the same way (the team's
        # torch `%` is within an ulp of it)
        dpm = shifted - 2 * math.pi * torch.floor(shifted / (2 * math.pi)) - math.pi
        dpm = torch.where((dpm == -math.pi) & (dp > 0), math.pi, dpm)
        adj = torch.where(dp.abs() < math.pi, 0.0, dpm - dp)
        return p + self._cumsum(adj)

    # --- the three groups ---------------------------------------------------------------------------------
    @staticmethod
    def central_moments(x: torch.Tensor) -> torch.Tensor:
        """(B, 2, N) -> (B, 8): mean, then 2nd, 3rd and 4th central moments, of I and Q."""
        mean = torch.mean(x, dim=-1, keepdim=True)
        centred = x - mean
        m = centred**2  # the team's centred * centred; see _SQUARE
        out = [mean.squeeze(-1), torch.mean(m, dim=-1)]
        for _ in range(2):
            m = m * centred
            out.append(torch.mean(m, dim=-1))
        return torch.cat(out, dim=1)

    def cumulants(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2, N) -> (B, 18): C20, C21, C40, C41, C42, C60, C61, C62, C63 as (real, imag) pairs."""
        xs = x.unsqueeze(2)  # (B, 2, 1, N)
        m2 = _cmul(xs, xs, self.signs_m2, self.swap)  # M20, M21, M22 along the frame
        m4 = _cmul(m2[:, :, self.m4_a], m2[:, :, self.m4_b], self.signs_frames, self.swap)
        m6 = _cmul(m4[:, :, self.m6_a], m2[:, :, self.m4_b], self.signs_frames, self.swap)
        means = torch.mean(torch.cat([m2, m4, m6], dim=2), dim=-1)  # (B, 2, 11), in _MEANS order
        pairs = _cmul(means[:, :, self.pair_a], means[:, :, self.pair_b], self.signs_means, self.swap)
        triples = _cmul(means[:, :, self.triple_a], pairs[:, :, self.triple_b], self.signs_means, self.swap)
        m20r, m20i = means[:, 0:1, 0:1], means[:, 1:2, 0:1]
        # theirs: complex_abs(M20) ** 2 = (|M20|^2, 0 * re) ** 2
        abs4 = torch.cat([(m20r**2 + m20i**2) ** 2, (m20r * 0) ** 2], dim=1)
        terms = torch.cat([pairs, triples, abs4], dim=2)
        c = means[:, :, self.base]
        for step in range(self.term_idx.shape[0]):
            c = c + self.term_coef[step] * terms[:, :, self.term_idx[step]]
        out = torch.cat([means[:, :, :2], c], dim=2)  # (B, 2, 9)
        return out.transpose(1, 2).reshape(x.shape[0], 18)

    def instantaneous(self, x: torch.Tensor, exact: bool) -> torch.Tensor:
        """(B, 2, N) -> (B, 6): std of the normalised amplitude, unwrapped phase and frequency of the analytic
        signals of I and of Q (in that order, I then Q in each)."""
        a = self._analytic_fft(x) if exact else self._analytic_tables(x)
        amp = torch.sqrt(torch.sum(torch.pow(a, 2), dim=2))
        phase = self._unwrap(_atan2(a[:, :, 0, :], a[:, :, 1, :]))
        tracks = torch.stack([amp, phase, _diff(phase)], dim=1)  # (B, 3, 2, N)
        tracks = tracks / torch.amax(tracks, dim=-1, keepdim=True)  # each normalised by its maximum
        return _std(tracks, self.frame_len).reshape(x.shape[0], 6)

    def _all(self, x: torch.Tensor, exact: bool) -> torch.Tensor:
        return torch.cat([self.central_moments(x), self.cumulants(x), self.instantaneous(x, exact)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._all(x, exact=self.training)


def _head(width: int, w_bits: int, a_bits: int, n_classes: int) -> nn.Sequential:
    """Auxiliary classifier (training only): QuantLinear, BN, ReLU, QuantLinear with bias."""
    return nn.Sequential(
        qnn.QuantLinear(width, width, weight_bit_width=w_bits, bias=False),
        nn.BatchNorm1d(width),
        qnn.QuantReLU(bit_width=a_bits, return_quant_tensor=True),
        qnn.QuantLinear(width, n_classes, weight_bit_width=w_bits, bias=True, bias_quant=Int32Bias),
    )


class ImperialIPC1(nn.Module):
    """The Imperial_IPC1 network. Bit widths per part:

    w_bits / a_bits: weights / activations of every layer but the last conv block;
    in_bits: both branch input quantizers (statistics over [-1, 1], conv branch over [-2, 2]);
    last_conv_w_bits / last_conv_a_bits: the 7th conv and its ReLU (None: w_bits / a_bits).

    Their rows: training and "6-bit + pruning" w=a=in=6; final "lowered bit levels" w=a=in=5, last conv 4/4.
    Biases use Int32Bias (their brevitas' IntBias took the accumulator's bit width; 0.13 needs one given).
    """

    input_is_float = True  # the statistics see the raw float frame; no quantizer sits on the graph input

    def __init__(
        self,
        w_bits: int = 6,
        a_bits: int = 6,
        in_bits: int = 6,
        last_conv_w_bits: int | None = None,
        last_conv_a_bits: int | None = None,
        filters_conv: int = 64,
        filters_dense: int = 128,
        n_classes: int = N_CLASSES,
        aux_heads: bool = True,
    ):
        super().__init__()
        last_w = w_bits if last_conv_w_bits is None else last_conv_w_bits
        last_a = a_bits if last_conv_a_bits is None else last_conv_a_bits
        self.statistics = SignalStatistics()
        self.momentum_features = nn.Sequential(
            qnn.QuantHardTanh(act_quant=fixed_range_input_quant(in_bits, -1.0, 1.0)),
            qnn.QuantLinear(N_STATISTICS, N_STATISTICS, weight_bit_width=w_bits, bias=False),
            nn.BatchNorm1d(N_STATISTICS),
            qnn.QuantReLU(bit_width=a_bits),
        )
        layers: list[nn.Module] = [
            nn.AvgPool1d(2),
            qnn.QuantHardTanh(act_quant=fixed_range_input_quant(in_bits, -2.0, 2.0)),
        ]
        c_in = 2
        for i in range(N_CONV_BLOCKS):
            wb, ab = (last_w, last_a) if i == N_CONV_BLOCKS - 1 else (w_bits, a_bits)
            layers += [
                qnn.QuantConv1d(c_in, filters_conv, 3, padding=1, stride=2, weight_bit_width=wb, bias=False),
                nn.BatchNorm1d(filters_conv),
                qnn.QuantReLU(bit_width=ab),
            ]
            c_in = filters_conv
        length = FRAME_LEN // 2 // 2**N_CONV_BLOCKS
        layers += [
            nn.Flatten(),
            qnn.QuantLinear(filters_conv * length, filters_dense, weight_bit_width=w_bits, bias=False),
            nn.BatchNorm1d(filters_dense),
            qnn.QuantReLU(bit_width=a_bits),
        ]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            qnn.QuantLinear(filters_dense + N_STATISTICS, filters_dense, weight_bit_width=w_bits, bias=False),
            nn.BatchNorm1d(filters_dense),
            qnn.QuantReLU(bit_width=a_bits, return_quant_tensor=True),
            qnn.QuantLinear(filters_dense, n_classes, weight_bit_width=w_bits, bias=True, bias_quant=Int32Bias),
        )
        self.aux_heads = aux_heads
        # eval mode never calls them; model.export leaves them out of the export
        self.training_only_modules = ("classifier_momentum", "classifier_conv") if aux_heads else ()
        if aux_heads:
            self.classifier_momentum = _head(N_STATISTICS, w_bits, a_bits, n_classes)
            self.classifier_conv = _head(filters_dense, w_bits, a_bits, n_classes)

    def forward(self, x: torch.Tensor):
        stats = self.momentum_features(self.statistics(x))
        conv = self.features(x)
        logits = self.classifier(torch.cat([conv, stats], dim=1))
        if self.training and self.aux_heads:
            return logits, [self.classifier_conv(conv), self.classifier_momentum(stats)]
        return logits

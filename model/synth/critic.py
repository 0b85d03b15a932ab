"""Real-trained critics: how well do networks trained on RadioML 2018.01A recognise a (synthetic) file's frames?

    python -m model.synth.critic MODEL FILE [--per-block N] [--snrs 10 20 30] [--min-snr 10] [--plot out.png]

MODEL is a checkpoint of a known network (a bare state_dict such as ../shared/reference/vgg10_w8a8_baseline.pth
or imperial_ipc1_final_model.pth, recognised by its keys, or one of this project's checkpoints / run folders)
or a QONNX file (aaronnet32pp_2021_export.onnx, the baseline's 2021 export). FILE is a RadioML-schema HDF5
file. Frames are the official split's test frames (model/split.py), the first N of each (class, SNR) block's
test frames with --per-block N. Printed: accuracy per SNR (beside the real baseline's curve on the real file),
accuracy per class from --min-snr, each class's top confusion there; written: a confusion plot and, with
--json, every figure.

A network trained on the real file that classifies a stand-in's frames about as well as real ones is direct
evidence that the stand-in resembles the real data, with no real file and no training: the critics' confusions
say which classes the stand-in renders unlike the real ones. Accuracy of a critic on synthetic frames is not
accuracy on RadioML 2018.01A.

QONNX files run in onnxruntime on whole batches: every Quant node is rewritten into standard operators
(Div, Add, Clip, Round, Sub, Mul) that compute what qonnx's own Quant executes (clamp, then round half to
even), so no per-node Python execution is needed; tests/model/test_synth_critic.py checks the rewrite against
qonnx's execute_onnx.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from amc_cli import RefusedInput, command
from amc_cli.outputs import check_output_file, write_text
from amc_cli.paths import REPO_ROOT, SHARED
from model.radioml import CLASSES, N_CLASSES, N_SNRS, SNRS_DB

# The real baseline's accuracy per SNR on the real test split (shared/reference/README.md, read from the
# challenge notebook's plot, +-0.01); SNRs the table skips are interpolated, ">= 12 dB: 0.92-0.93" is 0.925.
REAL_BASELINE_POINTS = {-20: 0.045, -16: 0.055, -12: 0.09, -10: 0.14, -8: 0.20, -6: 0.27, -4: 0.34, -2: 0.43,
                        0: 0.53, 2: 0.62, 4: 0.73, 6: 0.83, 8: 0.89, 10: 0.91, 12: 0.925, 30: 0.925}
REAL_BASELINE_OVERALL = 0.5947

# Imperial_IPC1's final evaluation (their README's "lowered bit levels" row); bit widths are not in a state_dict.
IMPERIAL_FINAL_BITS = dict(w_bits=5, a_bits=5, in_bits=5, last_conv_w_bits=4, last_conv_a_bits=4)


def real_baseline_curve(snrs=SNRS_DB) -> np.ndarray:
    xs = sorted(REAL_BASELINE_POINTS)
    return np.interp(list(snrs), xs, [REAL_BASELINE_POINTS[x] for x in xs])


def draw_against_real(ax, snrs, accuracy, label: str, ylabel: str = "accuracy") -> None:
    """An accuracy-per-SNR curve on `ax` beside the real baseline's on the real file, with chance marked:
    the one picture every calibration plot of the stand-in shows."""
    ax.plot(SNRS_DB, real_baseline_curve(), "k--o", ms=3, label="real baseline (VGG10 w8a8 on RadioML 2018.01A)")
    ax.plot(list(snrs), list(accuracy), "-o", ms=3, label=label)
    ax.axhline(1 / N_CLASSES, color="grey", lw=0.5)
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)


# --- critics -----------------------------------------------------------------------------------------------


@dataclass
class Critic:
    """A real-trained network: `logits(frames)` takes (n, 1024, 2) float32 I/Q frames, returns (n, 24)."""

    name: str
    kind: str  # "pytorch" or "qonnx"
    logits: Callable[[np.ndarray], np.ndarray]
    batch: int = 256

    def predict(self, frames: np.ndarray) -> np.ndarray:
        out = [self.logits(frames[i : i + self.batch]).argmax(axis=1) for i in range(0, len(frames), self.batch)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _torch_critic(net, name: str, batch: int) -> Critic:
    import torch

    net.eval()

    def logits(frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 2, 1), dtype=np.float32))
        with torch.no_grad():
            out = net(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.numpy()

    return Critic(name=name, kind="pytorch", logits=logits, batch=batch)


def reference_path(file: str) -> Path:
    """A file of the challenge teams' reference set: shared/reference/, else its copy in tests/fixtures/reference/."""
    for folder in (SHARED / "reference", REPO_ROOT / "tests" / "fixtures" / "reference"):
        if (folder / file).exists():
            return folder / file
    raise FileNotFoundError(f"{file}: not in ../shared/reference nor tests/fixtures/reference")


def _candidate_nets(state: dict) -> list[tuple[str, dict]]:
    """The known networks whose state_dict keys a bare checkpoint could be: (name, build arguments)."""
    keys = set(state)
    if any(k.startswith(("momentum_features.", "classifier_momentum.")) for k in keys):
        return [("imperial_ipc1", IMPERIAL_FINAL_BITS)]
    return [("vgg10", {})]


def load_critic(path: str | Path, net: str | None = None, net_args: dict | None = None,
                batch: int = 256) -> Critic:
    """A critic from a checkpoint (bare state_dict of a known network, or this project's) or a QONNX file.

    `net` and `net_args` name the network and its build arguments where the checkpoint does not say them
    (bare state_dicts hold no bit widths: Imperial_IPC1 defaults to their final evaluation's, VGG10 to w8a8).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    if path.suffix == ".onnx":
        if net is not None:
            raise ValueError("--net applies to checkpoints, not QONNX files")
        return _qonnx_critic(path, batch)

    from model.compress.pruning import load_pruned_state_dict, make_pruning_permanent
    from model.nets import build_net

    if path.is_dir():
        from model.trained import load_trained

        return _torch_critic(load_trained(path), path.name, batch)
    from model.train import read_torch_file

    state = read_torch_file(path)
    if isinstance(state, dict) and "net" in state and "model" in state:  # this project's checkpoint format
        from model.trained import net_from_checkpoint

        return _torch_critic(net_from_checkpoint(state), path.stem, batch)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state_dict or checkpoint (a {type(state).__name__})")
    candidates = [(net, net_args or {})] if net else _candidate_nets(state)
    errors = []
    for name, args in candidates:
        model = build_net(name, **{**args, **(net_args or {})})
        try:
            load_pruned_state_dict(model, state)
        except (RuntimeError, ValueError) as exc:
            errors.append(f"{name}: {str(exc).splitlines()[0]}")
            continue
        make_pruning_permanent(model)
        return _torch_critic(model, path.stem, batch)
    raise ValueError(f"{path}: the state_dict fits no known network ({'; '.join(errors)}); name one with --net")


def _standard_quant_graph(model):
    """Rewrite every qonnx Quant node into standard ONNX operators computing the same values; free batch size.

    Quant(x, scale, zeropt, bitwidth): y = clip(x / scale + zeropt, min_int, max_int), rounded (half to even
    for ROUND), minus zeropt, times scale; bit width, signedness and narrow range must be constants.
    """
    import onnx
    from onnx import helper, numpy_helper
    from qonnx.custom_op.general.quant import max_int, min_int

    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    unary = {"Ceil": np.ceil, "Floor": np.floor, "Round": np.round, "Identity": lambda v: v}

    def constant(name: str):
        """The value of a constant tensor: an initializer, a Constant node, or Ceil/Floor/Round of one
        (the 2021 exports compute a bias quantizer's bit width as Ceil(constant))."""
        if name in inits:
            return inits[name]
        node = producers.get(name)
        if node is not None and node.op_type == "Constant":
            return numpy_helper.to_array(node.attribute[0].t)
        if node is not None and node.op_type in unary:
            inner = constant(node.input[0])
            return None if inner is None else unary[node.op_type](inner)
        return None

    rounding = {"ROUND": "Round", "HALF_EVEN": "Round", "FLOOR": "Floor", "CEIL": "Ceil"}
    nodes = []
    for node in graph.node:
        if node.op_type != "Quant":
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        mode = attrs.get("rounding_mode", b"ROUND")
        mode = (mode.decode() if isinstance(mode, bytes) else mode).upper()
        bit_width = constant(node.input[3])
        if mode not in rounding or bit_width is None:
            raise ValueError(f"Quant node {node.name or node.output[0]}: rounding {mode} or a non-constant bit width")
        bits = int(np.asarray(bit_width).reshape(-1)[0])
        signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
        if bits == 1 and signed:
            raise ValueError(f"Quant node {node.output[0]}: 1-bit bipolar quantizers are not supported")
        x, scale, zeropt = node.input[:3]
        out = node.output[0]
        tag = f"_stdq_{out}"
        lo, hi = tag + "_lo", tag + "_hi"
        graph.initializer.extend([numpy_helper.from_array(np.array(min_int(signed, narrow, bits), np.float32), lo),
                                  numpy_helper.from_array(np.array(max_int(signed, narrow, bits), np.float32), hi)])
        nodes += [
            helper.make_node("Div", [x, scale], [tag + "_d"]),
            helper.make_node("Add", [tag + "_d", zeropt], [tag + "_z"]),
            helper.make_node("Clip", [tag + "_z", lo, hi], [tag + "_c"]),
            helper.make_node(rounding[mode], [tag + "_c"], [tag + "_r"]),
            helper.make_node("Sub", [tag + "_r", zeropt], [tag + "_s"]),
            helper.make_node("Mul", [tag + "_s", scale], [out]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    for tensor in list(graph.input) + list(graph.output):
        dims = tensor.type.tensor_type.shape.dim
        if len(dims):
            dims[0].dim_param = "batch"
    # Round and Clip-with-bound-inputs need opset 11; the 2021 exports are opset 9, whose other operators
    # (Conv, BatchNormalization, MaxPool, Gemm, Unsqueeze with axes attribute, ...) mean the same in 11.
    version = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] + [11])
    if version > 12:
        raise ValueError(f"opset {version}: only opsets up to 12 are handled (Unsqueeze changed in 13)")
    while len(model.opset_import):
        model.opset_import.pop()
    model.opset_import.extend([helper.make_opsetid("", version)])
    # initializers listed as graph inputs (old exporters) would be overridable inputs, not constants
    init_names = {t.name for t in graph.initializer}
    kept = [t for t in graph.input if t.name not in init_names]
    del graph.input[:]
    graph.input.extend(kept)
    onnx.checker.check_model(model)
    return model


def _qonnx_critic(path: Path, batch: int) -> Critic:
    import onnxruntime as ort

    from amc_cli.inputs import load_onnx

    model = load_onnx(path, "a QONNX model")
    graph_inputs = {t.name for t in model.graph.initializer}
    inputs = [t for t in model.graph.input if t.name not in graph_inputs]
    if len(inputs) != 1:
        raise ValueError(f"{path}: expected one data input, found {[t.name for t in inputs]}")
    shape = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    if shape[1:] == [2, 1024]:
        layout = (0, 2, 1)
    elif shape[1:] == [1024, 2]:
        layout = (0, 1, 2)
    else:
        raise ValueError(f"{path}: input shape {shape} is neither (N, 2, 1024) nor (N, 1024, 2)")
    _standard_quant_graph(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = _threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name_in, name_out = inputs[0].name, model.graph.output[0].name

    def logits(frames: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(frames.transpose(layout), dtype=np.float32)
        return session.run([name_out], {name_in: x})[0].reshape(len(frames), -1)

    return Critic(name=path.stem, kind="qonnx", logits=logits, batch=batch)


def _threads() -> int:
    try:
        import torch

        return max(1, torch.get_num_threads())
    except ImportError:  # pragma: no cover
        return 1


# --- frames ------------------------------------------------------------------------------------------------


def official_test_indices(frames_per_block: int, per_block: int | None = None,
                 snrs: list[int] | None = None) -> np.ndarray:
    """The official split's test indices, the first `per_block` of each block's, for the SNRs in `snrs`."""
    from model.split import official_split

    test = official_split(frames_per_block).test
    n_test = len(test) // (N_CLASSES * N_SNRS)
    blocks = test.reshape(N_CLASSES, N_SNRS, n_test)
    if snrs is not None:
        unknown = sorted(set(snrs) - set(SNRS_DB))
        if unknown:
            raise ValueError(f"SNR(s) {unknown} dB are not in the file's grid {SNRS_DB[0]}..{SNRS_DB[-1]} step 2")
        blocks = blocks[:, [SNRS_DB.index(s) for s in snrs]]
    if per_block is not None:
        blocks = blocks[:, :, :per_block]
    return blocks.reshape(-1)


def read_test_frames(path: str | Path, per_block: int | None = None, snrs: list[int] | None = None):
    """(frames (n, 1024, 2) float32, labels (n,), SNRs (n,)) of the file's official test frames."""
    import h5py

    from model.radioml import validate_file

    info = validate_file(path)
    idx = np.sort(official_test_indices(info.frames_per_block, per_block, snrs))
    with h5py.File(path, "r") as f:
        x = f["X"][idx].astype(np.float32)
        y = np.asarray(f["Y"][idx]).argmax(axis=1)
        z = np.asarray(f["Z"][idx]).reshape(-1).round().astype(np.int64)
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items() if k in ("seed", "config")}
    return x, y, z, attrs


# --- scoring -----------------------------------------------------------------------------------------------


@dataclass
class CriticResult:
    critic: str
    data: str
    min_snr: int
    labels: np.ndarray
    snrs: np.ndarray
    predicted: np.ndarray
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def overall(self) -> float:
        return float(np.mean(self.predicted == self.labels))

    def per_snr(self) -> dict[int, float]:
        return {int(s): float(np.mean(self.predicted[self.snrs == s] == self.labels[self.snrs == s]))
                for s in SNRS_DB if np.any(self.snrs == s)}

    def confusion(self, min_snr: int | None = None) -> np.ndarray:
        """Counts (true class, predicted class) over frames at or above `min_snr` (default: self.min_snr)."""
        keep = self.snrs >= (self.min_snr if min_snr is None else min_snr)
        conf = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
        np.add.at(conf, (self.labels[keep], self.predicted[keep]), 1)
        return conf

    def above(self) -> float:
        keep = self.snrs >= self.min_snr
        return float(np.mean(self.predicted[keep] == self.labels[keep])) if keep.any() else float("nan")

    def per_class(self) -> dict[str, float]:
        conf = self.confusion()
        totals = conf.sum(axis=1)
        return {c: float(conf[i, i] / totals[i]) for i, c in enumerate(CLASSES) if totals[i]}

    def top_confusions(self) -> dict[str, tuple[str, float]]:
        """Each class's most frequent wrong prediction from min_snr, with its share of the class's frames."""
        conf = self.confusion()
        out = {}
        for i, c in enumerate(CLASSES):
            total = conf[i].sum()
            if not total:
                continue
            wrong = conf[i].copy()
            wrong[i] = -1
            j = int(wrong.argmax())
            out[c] = (CLASSES[j], float(conf[i, j] / total)) if conf[i, j] > 0 else ("-", 0.0)
        return out

    def to_dict(self) -> dict:
        return {
            "critic": self.critic, "data": self.data, "frames": int(len(self.labels)), "overall": self.overall,
            "min_snr": self.min_snr, "accuracy_from_min_snr": self.above(), "per_snr": self.per_snr(),
            "per_class_from_min_snr": self.per_class(),
            "top_confusion_from_min_snr": {c: list(v) for c, v in self.top_confusions().items()},
            "confusion_from_min_snr": self.confusion().tolist(), "seconds": round(self.seconds, 1), **self.extra,
        }


def score(critic: Critic, frames: np.ndarray, labels: np.ndarray, snrs: np.ndarray, data: str = "",
          min_snr: int = 10) -> CriticResult:
    t0 = time.perf_counter()
    predicted = critic.predict(frames)
    return CriticResult(critic=critic.name, data=data, min_snr=min_snr, labels=np.asarray(labels),
                        snrs=np.asarray(snrs), predicted=predicted, seconds=time.perf_counter() - t0)


def format_report(result: CriticResult) -> str:
    lines = [f"critic {result.critic} on {result.data}: {len(result.labels)} frames, overall {result.overall:.3f}, "
             f"from {result.min_snr:+d} dB {result.above():.3f} ({result.seconds:.0f} s)", "",
             "SNR dB  critic  real baseline (real file)"]
    real = dict(zip(SNRS_DB, real_baseline_curve()))
    for s, a in result.per_snr().items():
        lines.append(f"{s:+6d}  {a:6.3f}  {real[s]:.3f}")
    lines += ["", f"per class from {result.min_snr:+d} dB: accuracy, top confusion (share)"]
    tops = result.top_confusions()
    for c, a in result.per_class().items():
        other, share = tops[c]
        lines.append(f"  {c:>10s} {a:5.2f}   -> {other:<10s} {share:.2f}")
    return "\n".join(lines)


def plot_result(result: CriticResult, path: str | Path) -> Path:
    """Confusion matrix from min_snr (row-normalised) beside accuracy per SNR against the real curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = result.confusion().astype(float)
    rates = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(15, 6.5), gridspec_kw=dict(width_ratios=[1.25, 1]))
    im = ax0.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax0.set_xticks(range(N_CLASSES), CLASSES, rotation=90, fontsize=7)
    ax0.set_yticks(range(N_CLASSES), CLASSES, fontsize=7)
    ax0.set_xlabel("predicted")
    ax0.set_ylabel("true")
    ax0.set_title(f"{result.critic}: confusion from {result.min_snr:+d} dB (acc {result.above():.3f})", fontsize=9)
    fig.colorbar(im, ax=ax0, fraction=0.046)
    per_snr = result.per_snr()
    draw_against_real(ax1, per_snr, per_snr.values(), f"{result.critic} on {Path(result.data).name}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- command line ------------------------------------------------------------------------------------------


def _net_arg(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m model.synth.critic",
        description="Score a real-trained network (checkpoint or QONNX) on a RadioML-schema file's official test "
        "frames: accuracy per SNR and per class, top confusions, a confusion plot.",
    )
    p.add_argument("model", type=Path, help="checkpoint (.pth/.pt, run folder) or QONNX file (.onnx)")
    p.add_argument("file", type=Path, help="RadioML-schema HDF5 file (synthetic or real)")
    p.add_argument("--per-block", type=int, default=None, help="first N test frames of each (class, SNR) block")
    p.add_argument("--snrs", type=int, nargs="+", default=None, help="only these SNRs (dB)")
    p.add_argument("--min-snr", type=int, default=10, help="per-class figures and confusions from this SNR (10)")
    p.add_argument("--plot", type=Path, default=None,
                   help="confusion plot PNG (default runs/critic/<model>-<file>.png; 'none' for no plot)")
    p.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    p.add_argument("--net", default=None, help="network name for a bare state_dict (default: from its keys)")
    p.add_argument("--net-arg", type=_net_arg, action="append", default=[], help="build argument KEY=VALUE")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--batch", type=int, default=256)
    args = p.parse_args(argv)
    if args.per_block is not None and args.per_block < 1:
        p.error("--per-block must be at least 1")
    if args.threads < 1 or args.batch < 1:
        p.error("--threads and --batch must be at least 1")
    return args


@command
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None and str(path).lower() != "none":
            check_output_file(path, [args.model, args.file], option)
    try:
        critic = load_critic(args.model, args.net, dict(args.net_arg), args.batch)
        frames, labels, snrs, attrs = read_test_frames(args.file, args.per_block, args.snrs)
    except ValueError as exc:  # the loaders' refusals are ValueErrors naming the file
        raise RefusedInput(str(exc)) from exc
    result = score(critic, frames, labels, snrs, str(args.file), args.min_snr)
    result.extra = {"model": str(args.model), "per_block": args.per_block, "snrs": args.snrs,
                    "data_seed": attrs.get("seed"), "data_config": json.loads(attrs["config"]) if "config" in attrs
                    else None}
    print(format_report(result))
    if str(args.plot).lower() != "none":
        plot = args.plot or Path("runs") / "critic" / f"{args.model.stem}-{args.file.stem}.png"
        print(f"\nwrote {plot_result(result, plot)}")
    if args.json is not None:
        write_text(args.json, json.dumps(result.to_dict(), indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Quantization-aware training with per-epoch checkpoints that an interrupted run resumes from.

Defaults follow the challenge sandbox (Adam, lr 0.01, cosine warm restarts with T_0 = 5 epochs, batch
1024); every one of them is a recipe setting. Each epoch's shuffle is derived from (seed, epoch), so a
resumed run sees the same batches as an uninterrupted one.

Reproducibility: on CPU a run is bit-for-bit repeatable on one machine for one thread count
(`train.threads`, applied to every step of a run, not only training): the initial weights and every
shuffle are seeded, batches are read in a fixed order, and PyTorch's deterministic algorithms are
enforced. The thread count changes the order of floating-point reductions and so the result; other
CPUs (another instruction set, e.g. AVX-512 against AVX2) and other library versions may too.
`run_environment()` records what decides it (metrics.json, "environment"). On CUDA, cuDNN's fastest
(non-deterministic) kernels are kept.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from amc_cli import RefusedInput
from amc_cli.inputs import TORCH_FILE_MAX_BYTES, checked_file
from model.cache import FrameCache
from model.config import TrainConfig

CHECKPOINT_FORMAT = "amc-fpga-checkpoint/1"

# A training objective maps (network, input batch, labels) to a scalar loss. The default is plain
# cross-entropy; distillation and auxiliary heads plug in here (model/compress/).
Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def logits_of(output) -> torch.Tensor:
    """Networks may return a QuantTensor or (logits, aux_logits); the main logits are a plain tensor."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    return output.value if hasattr(output, "value") else output


def cross_entropy_objective(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits_of(net(x)), y)


def configure_threads(cfg: TrainConfig, device: torch.device | None = None) -> None:
    """The recipe's thread count (every step of a run uses the same one) and, on CPU, deterministic algorithms."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if (device or resolve_device(cfg.device)).type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)  # CPU kernels are; warn, never fail, if one is not


def run_environment() -> dict:
    """What a CPU run's exact figures depend on, besides the recipe and the data."""
    import platform

    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(name)


def batches(
    cache: FrameCache, indices: np.ndarray, batch_size: int, device: torch.device, prefetch: int = 2
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(frames, labels) batches in the order of `indices`, read by a background thread.

    Each batch is one fancy-index into the memory-mapped cache (indices sorted within the batch for
    locality); the reader thread overlaps that I/O with the previous batch's compute.
    """
    q: queue.Queue = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def reader():
        try:
            for start in range(0, len(indices), batch_size):
                if stop.is_set():
                    return
                idx = np.sort(indices[start : start + batch_size])
                q.put((torch.from_numpy(cache.frames(idx)), torch.from_numpy(cache.labels[idx].astype(np.int64))))
        except BaseException as exc:  # surface reader errors in the consumer
            q.put(exc)
        q.put(None)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            x, y = item
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.05)


@torch.no_grad()
def predict(net: nn.Module, cache: FrameCache, indices: np.ndarray, batch_size: int, device: torch.device,
            progress: bool = False, desc: str = "evaluating") -> np.ndarray:
    """Logits (len(indices), n_classes) in the order of `indices`."""
    from tqdm import tqdm

    net.eval()
    order = np.argsort(indices, kind="stable")
    sorted_idx = indices[order]
    outs = []
    n_batches = -(-len(indices) // batch_size)
    for x, _ in tqdm(batches(cache, sorted_idx, batch_size, device), total=n_batches, desc=desc,
                     unit="batch", disable=None if progress else True, leave=False):
        outs.append(logits_of(net(x)).float().cpu())
    logits = torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)
    result = np.empty_like(logits)
    result[order] = logits
    return result


def param_groups(net: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on conv and linear weights only.

    Decay on Brevitas' learned activation scales is harmful, not just useless: during the first
    training steps their gradient is zero while statistics are collected, so Adam turns the decay term
    alone into steps of about lr each, driving the scale negative before it is initialised from the
    statistics, and the network collapses. BatchNorm parameters and biases are left alone as usual.
    """
    decay, rest = [], []
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim > 1 and "scaling_impl" not in name else rest).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def make_optimizer(net: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(net, cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)
    raise ValueError(f"train.optimizer: unknown {cfg.optimizer!r} (adam | sgd)")


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig):
    """Stepped once per epoch, as in the sandbox."""
    if cfg.scheduler == "cosine_warm_restarts":
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=cfg.t0)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    if cfg.scheduler == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    raise ValueError(f"train.scheduler: unknown {cfg.scheduler!r} (cosine_warm_restarts | cosine | constant)")


def save_atomic(obj: dict, path: Path) -> None:
    """Write to a temporary name and rename: a kill mid-write never leaves a half checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class CheckpointError(RefusedInput):
    """A file that is not a PyTorch checkpoint this toolchain can use; the message names it."""


def read_torch_file(path: Path) -> object:
    """torch.load of tensors and plain containers only; anything else is refused in one line."""
    path = checked_file(path, "a PyTorch checkpoint (.pt)", TORCH_FILE_MAX_BYTES)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (not a zip), EOFError (truncated), ...
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a PyTorch checkpoint this toolchain can read ({reason})") from exc


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint here; train first (make train) or check the run folder")
    ckpt = read_torch_file(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of this toolchain (format {CHECKPOINT_FORMAT})")
    return ckpt


def stats_collection_state(net: nn.Module) -> dict:
    """Where Brevitas is still collecting activation statistics: step counter, running buffer, raw value.

    Brevitas initialises learned activation scales from statistics of the first training steps (300
    by default) and keeps that progress outside the state_dict. Saving it lets a run interrupted
    during that phase resume exactly where it stopped.
    """
    from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling

    return {
        name: {"counter": int(m.counter), "buffer": m.buffer.detach().cpu().clone(),
               "value": m.value.detach().cpu().clone()}
        for name, m in net.named_modules()
        if isinstance(m, ParameterFromRuntimeStatsScaling) and m.counter <= m.collect_stats_steps
    }


def restore_stats_collection_state(net: nn.Module, state: dict) -> None:
    modules = dict(net.named_modules())
    with torch.no_grad():
        for name, s in state.items():
            m = modules[name]
            m.counter = s["counter"]
            m.buffer.copy_(s["buffer"])
            m.value.copy_(s["value"])


@dataclass
class FitResult:
    history: list[dict]
    best_val_acc: float
    best_epoch: int


def fit(
    net: nn.Module,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    cache: FrameCache,
    cfg: TrainConfig,
    checkpoint_dir: Path,
    meta: dict,
    objective: Objective = cross_entropy_objective,
    progress: bool = True,
) -> FitResult:
    """Train `net` for cfg.epochs, resuming from checkpoint_dir/last.pt when it exists.

    `meta` (network name and arguments, recipe) goes into every checkpoint so a checkpoint alone is
    enough to rebuild the network. best.pt holds the weights of the epoch with the best validation
    accuracy. Under torchrun, each process trains on its share of every batch through
    DistributedDataParallel and rank 0 writes the checkpoints.
    """
    from tqdm import tqdm

    from model import distributed

    device = distributed.device_for(resolve_device(cfg.device))
    configure_threads(cfg, device)
    world, rank, main = distributed.world_size(), distributed.rank(), distributed.is_main()
    progress = progress and main
    if cfg.batch_size % world:
        raise ValueError(f"train.batch_size {cfg.batch_size} is not divisible by the {world} processes")
    local_batch = cfg.batch_size // world
    torch.manual_seed(cfg.seed)
    net.to(device)
    # DDP also broadcasts rank 0's buffers before each forward pass, which keeps BatchNorm statistics and
    # Brevitas' activation-statistics buffers identical on every rank.
    train_net = (torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda"
                                                            else None) if world > 1 else net)
    opt = make_optimizer(net, cfg)
    sched = make_scheduler(opt, cfg)
    last, best = checkpoint_dir / "last.pt", checkpoint_dir / "best.pt"
    history: list[dict] = []
    start_epoch, best_acc, best_epoch = 0, -1.0, -1
    if last.exists():
        try:
            ckpt = load_checkpoint(last)
        except CheckpointError as exc:  # the run's own resume point: deleting it restarts the run
            raise CheckpointError(f"{exc}; delete it to restart that run from its first epoch") from exc
        net.load_state_dict(ckpt["model"])
        restore_stats_collection_state(net, ckpt["stats_collection"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        torch.set_rng_state(ckpt["torch_rng"])
        start_epoch, best_acc, best_epoch = ckpt["epoch"], ckpt["best_val_acc"], ckpt["best_epoch"]
        history = list(ckpt["history"])
        if start_epoch < cfg.epochs and progress:
            print(f"resuming from {last} after epoch {start_epoch}")

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every batch has the same shape: let cuDNN pick its fastest conv
    for epoch in range(start_epoch, cfg.epochs):
        net.train()
        epoch_t0 = time.perf_counter()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(train_idx)
        if cfg.max_frames_per_epoch:
            order = order[: cfg.max_frames_per_epoch]
        order = order[: len(order) - len(order) % world][rank::world]  # equal shares: ranks step in lockstep
        if len(order) % local_batch == 1:
            order = order[:-1]  # BatchNorm cannot train on a batch of one
        n_batches = -(-len(order) // local_batch)
        total_loss, seen = 0.0, 0
        bar = tqdm(batches(cache, order, local_batch, device), total=n_batches, unit="batch",
                   desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=None if progress else True, leave=False)
        for x, y in bar:
            loss = objective(train_net, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(y)
            seen += len(y)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}")
        sched.step()
        distributed.sync_buffers(net)  # every rank then validates, and decides, identically
        val_logits = predict(net, cache, val_idx, cfg.batch_size, device)
        val_acc = float((val_logits.argmax(1) == cache.labels[val_idx]).mean()) if len(val_idx) else float("nan")
        seconds = time.perf_counter() - epoch_t0
        record = {"epoch": epoch + 1, "train_loss": total_loss / max(seen, 1), "val_acc": val_acc,
                  "lr": opt.param_groups[0]["lr"], "seconds": round(seconds, 1)}
        history.append(record)
        if progress:
            print(f"epoch {epoch + 1}/{cfg.epochs}  loss {record['train_loss']:.4f}  val acc {val_acc:.4f}  "
                  f"lr {record['lr']:.2e}  {seconds:.0f} s ({seen * world / seconds:.0f} training frames/s)")
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        improved = val_acc > best_acc or best_epoch < 0
        if improved:
            best_acc, best_epoch = val_acc, epoch + 1
        if main:
            if improved:
                save_atomic({"format": CHECKPOINT_FORMAT, "model": state, "epoch": epoch + 1, "val_acc": val_acc,
                             **meta}, best)
            save_atomic({
                "format": CHECKPOINT_FORMAT, "model": state, "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state(), "epoch": epoch + 1,
                "best_val_acc": best_acc, "best_epoch": best_epoch, "history": history,
                "stats_collection": stats_collection_state(net), **meta,
            }, last)
        distributed.barrier()  # the other ranks may read these checkpoints next
    return FitResult(history=history, best_val_acc=best_acc, best_epoch=best_epoch)

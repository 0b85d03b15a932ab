"""Data-parallel training under torchrun, with nothing to configure.

`torchrun --nproc_per_node=N -m model.pipeline <recipe> --run <dir>` starts N processes; each trains on
its share of every batch (the recipe's batch size stays the global batch size) through PyTorch's
DistributedDataParallel. Rank 0 alone prepares the data cache, writes checkpoints and runs the steps
after training. A plain `python -m model.pipeline` is the same code with a world of one.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init() -> None:
    """Join the process group torchrun set up (NCCL on GPUs, Gloo on CPUs); a no-op when alone."""
    if launched_by_torchrun() and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend=backend)


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def sync_buffers(net: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics drift apart on each rank's shard)."""
    if active():
        for buf in net.buffers():
            dist.broadcast(buf, src=0)


def device_for(requested: torch.device) -> torch.device:
    """Under torchrun each process drives its own GPU."""
    if active() and requested.type == "cuda":
        return torch.device("cuda", local_rank())
    return requested

"""Training objectives: cross-entropy, plus auxiliary heads and knowledge distillation where configured.

A network with auxiliary classifier heads returns (logits, [aux_logits, ...]) in training mode and only
the logits in eval mode, so the heads shape training but never reach the exported graph or its cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from model.train import Objective, logits_of


def split_outputs(output) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(main logits, auxiliary logits) of a network output."""
    if isinstance(output, (tuple, list)):
        main, aux = output[0], list(output[1]) if len(output) > 1 else []
        return logits_of(main), [logits_of(a) for a in aux]
    return logits_of(output), []


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al.'s soft-target term, scaled by T^2 so its gradients keep their size as T changes."""
    t = temperature
    return F.kl_div(F.log_softmax(student / t, dim=1), F.softmax(teacher / t, dim=1), reduction="batchmean") * t * t


def make_objective(aux_weights: Sequence[float] = (), teacher: nn.Module | None = None, alpha: float = 0.5,
                   temperature: float = 4.0) -> Objective:
    """loss = (1 - alpha) * CE + alpha * KD(teacher) on the main head, + sum_i w_i * CE on auxiliary heads.

    Without a teacher alpha is ignored (plain CE). Auxiliary heads the weights do not cover get weight 1.
    """
    if teacher is not None:
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)

    def objective(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        main, aux = split_outputs(net(x))
        loss = F.cross_entropy(main, y)
        if teacher is not None:
            if next(teacher.parameters()).device != x.device:
                teacher.to(x.device)
            with torch.no_grad():
                soft = logits_of(teacher(x))
            loss = (1 - alpha) * loss + alpha * distillation_loss(main, soft, temperature)
        for i, head in enumerate(aux):
            loss = loss + (aux_weights[i] if i < len(aux_weights) else 1.0) * F.cross_entropy(head, y)
        return loss

    return objective

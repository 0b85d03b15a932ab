"""Layout transposes moved through forks and residual joins until they cancel or reach the graph's ends:
FINN's reorder and absorb passes, applied together until the graph stops changing. A transpose left between
two HW layers would become a Shuffle layer in hardware."""
from __future__ import annotations

from qonnx.transformation.base import Transformation


class NHWCCleanup(Transformation):
    """MaxPools made NHWC and the transposes around them absorbed (FINN's passes, in the order that works)."""

    def apply(self, model):
        import finn.transformation.streamline.absorb as absorb
        from finn.transformation.streamline.reorder import MakeMaxPoolNHWC

        model = model.transform(MakeMaxPoolNHWC())
        model = model.transform(absorb.AbsorbTransposeIntoMultiThreshold())
        model = model.transform(MakeMaxPoolNHWC())
        return model.transform(absorb.AbsorbConsecutiveTransposes()), False


class SettleTransposes(Transformation):
    """Transposes moved past forks and residual adds, merged, dropped where they are the identity; at most
    `rounds` rounds, fewer where a round changes nothing."""

    def __init__(self, rounds: int = 6):
        super().__init__()
        self.rounds = rounds

    def apply(self, model):
        import finn.transformation.streamline.absorb as absorb
        from finn.transformation.streamline.collapse_repeated import CollapseRepeatedTranspose
        from finn.transformation.streamline.remove import RemoveIdentityTranspose
        from finn.transformation.streamline.reorder import MoveTransposePastFork, MoveTransposePastJoinAdd

        for _ in range(self.rounds):
            before = model.model.SerializeToString()
            for tr in (MoveTransposePastFork(), absorb.AbsorbConsecutiveTransposes(), CollapseRepeatedTranspose(),
                       RemoveIdentityTranspose(), MoveTransposePastJoinAdd(), NHWCCleanup()):
                model = model.transform(tr)
            if model.model.SerializeToString() == before:
                break
        return model, False

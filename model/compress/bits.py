"""Lowering bit widths: rebuild the network with new arguments and carry the trained state over.

Bit widths are constructor arguments of the networks (an int, or a list with one entry per layer where
the network supports it), not state: a network built with fewer bits loads the old state_dict as is,
masks and learned activation scales included, and is then fine-tuned at its new precision.
"""

from __future__ import annotations

from model.trained import Model


def with_net_args(model, changes: dict):
    """The same model description with some constructor arguments changed (e.g. {"w_bits": 5})."""
    if not changes:
        raise ValueError("a bits stage needs net_args, e.g. {w_bits: 5, a_bits: 5}")
    return Model(net={"name": model.net["name"], "args": {**model.net["args"], **changes}}, state=model.state)

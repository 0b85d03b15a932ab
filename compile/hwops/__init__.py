"""HW layer implementations of our own, registered into finn-plus's custom-op registries.

finn-plus lacks an RTL variant of some HW ops this project needs (Pool: see pool_rtl.py; DuplicateStreams:
stream_fork.py; StreamingConcat: stream_concat.py; an integer ElementwiseAdd and a VVAU off Versal:
elementwise_rtl.py, vvau_rtl.py), and a global max pool in one pass (global_max_pool.py, whose generic op
goes into finn-plus's generic registry, the dict `custom_op` of finn.custom_op.fpgadataflow). All follow one
pattern (template_rtl.py). `register()` adds ours to finn-plus's RTL registry
(the dict `custom_op` of finn.custom_op.fpgadataflow.rtl), which both qonnx's getCustomOp (domain
finn.custom_op.fpgadataflow.rtl) and finn-plus's SpecializeLayers (which picks `<op>_rtl` when that name is
in the dict) consult. compile/finnenv.py's init_finn calls it, so every compile path has our ops before it
touches a model.
"""
from __future__ import annotations


def register() -> None:
    """Add our RTL ops to finn-plus's RTL custom-op registry (idempotent)."""
    from finn.custom_op.fpgadataflow import custom_op as generic_op
    from finn.custom_op.fpgadataflow.rtl import custom_op

    from .elementwise_rtl import ElementwiseAdd_rtl
    from .global_max_pool import StreamingGlobalMaxPool, StreamingGlobalMaxPool_rtl
    from .pool_rtl import Pool_rtl
    from .stream_concat import StreamingConcat_rtl
    from .stream_fork import DuplicateStreams_rtl
    from .vvau_rtl import VVAU_rtl

    generic_op[StreamingGlobalMaxPool.__name__] = StreamingGlobalMaxPool  # ours: no FINN counterpart
    custom_op[StreamingGlobalMaxPool_rtl.__name__] = StreamingGlobalMaxPool_rtl
    custom_op[Pool_rtl.__name__] = Pool_rtl
    custom_op[DuplicateStreams_rtl.__name__] = DuplicateStreams_rtl
    custom_op[StreamingConcat_rtl.__name__] = StreamingConcat_rtl
    custom_op[ElementwiseAdd_rtl.__name__] = ElementwiseAdd_rtl  # replaces finn-plus's, delegating on Versal
    custom_op[VVAU_rtl.__name__] = VVAU_rtl  # replaces finn-plus's (Versal only), delegating to it there


def pool_impl_style(function: str, idt, requested: str | None) -> str:
    """preferred_impl_style for a Pool node: "rtl" (ours) where it supports the node and nothing else
    was asked for, otherwise "hls" (finn-plus would pick our rtl variant by default for every Pool,
    AvgPool included, now that one is registered). Asking for "rtl" on an unsupported Pool raises."""
    from .pool_rtl import UnsupportedPool, rtl_supports

    ok = rtl_supports(function, idt)
    if requested == "rtl" and not ok:
        raise UnsupportedPool(f"Pool_rtl implements MaxPool on integer inputs only, not {function} on "
                              f"{idt.name}: set the impl style of Pool to 'hls' (needs Vitis HLS)")
    if requested:
        return requested
    return "rtl" if ok else "hls"

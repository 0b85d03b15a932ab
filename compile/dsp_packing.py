"""DSP slices of FINN's RTL MVAU as its core, mvu.sv, packs them.

FINN's MVAU_rtl estimate assumes four multiplications per DSP48E2 (ceil(PE/4) * SIMD). mvu.sv packs as
many lanes as fit the DSP's A input: NUM_LANES = 1 + (A_WIDTH - !NARROW_WEIGHTS - WEIGHT_WIDTH) / (WEIGHT_WIDTH
+ ACTIVATION_WIDTH - 1), with A_WIDTH 27 on DSP48E2 (25 on DSP48E1), and instantiates ceil(PE/NUM_LANES)
pipelines of SIMD slices. With 4-bit weights and 4-bit activations that is four lanes, FINN's figure; with
8-bit activations (a first layer reading the input quantizer's codes) it is three. DSPs are instantiated,
not inferred, so this count is what synthesis finds (docs/upstream/mvau-rtl-dsp-estimate.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def mvu_lanes(weight_bits: int, act_bits: int, narrow_weights: bool, version: int) -> int:
    """Multiplications per DSP slice in mvu.sv (its NUM_LANES) for DSP version 1 (DSP48E1), 2 (DSP48E2) or
    3 (DSP58 outside its INT8 core)."""
    a_width = 25 + 2 * (version > 1)
    if a_width == weight_bits:
        return 1
    return 1 + (a_width - (not narrow_weights) - weight_bits) // (weight_bits + act_bits - 1)


def lane_widths(weight_bits: int, act_bits: int, accu_bits: int, narrow_weights: bool, version: int) -> list[int]:
    """Bits of each lane's slice of the DSP's P output in mvu.sv (its lo_width per lane, from sliceLanes): the
    minimum lane width plus the A input's slack spread over the lower lanes, the top lane up to ACCU_WIDTH."""
    a_width, p_width = 25 + 2 * (version > 1), 48 + 10 * (version > 2)
    lanes = mvu_lanes(weight_bits, act_bits, narrow_weights, version)
    min_lane = weight_bits + act_bits - 1
    slack = a_width - ((not narrow_weights) + weight_bits + (lanes - 1) * min_lane)
    offsets = [0]
    for i in range(1, lanes):
        extra = (slack + (lanes - 1 - i)) // (lanes - i)
        offsets.append(offsets[-1] + min_lane + extra)
        slack -= extra
    offsets.append(min(offsets[-1] + accu_bits, p_width))
    return [hi - lo for lo, hi in zip(offsets, offsets[1:])]


def int8_core(weight_bits: int, act_bits: int, narrow_weights: bool, version: int) -> bool:
    """Whether mvu_vvu_axi picks the DSP58 INT8 core (mvu_vvu_8sx9_dsp58) instead of mvu.sv (genINT8)."""
    return version > 2 and mvu_lanes(weight_bits, act_bits, narrow_weights, version) <= 3 \
        and weight_bits <= 8 and act_bits <= 9


def narrow_weights(inst, model) -> bool:
    """MVAU_rtl's NARROW_WEIGHTS parameter as FINN's generate_hdl sets it: the weights never reach their
    type's minimum. Without the model (no weights at hand) False, which never counts fewer DSPs."""
    if model is None or inst.get_nodeattr("mem_mode") in ("dynamic", "external_mem"):
        return False
    w = model.get_initializer(inst.onnx_node.input[1])
    return w is not None and float(w.min()) != inst.get_input_datatype(1).min()


def dsp_version(part: str) -> int:
    """mvu.sv's VERSION for the part's DSP slice: 1 DSP48E1, 2 DSP48E2, 3 DSP58."""
    from finn.util.basic import get_dsp_block

    return {"DSP58": 3, "DSP48E2": 2}.get(get_dsp_block(part), 1)


@dataclass(frozen=True)
class MvuShape:
    """What mvu.sv's packing depends on, as FINN's generate_hdl sets its parameters for an MVAU_rtl layer."""

    version: int
    weight_bits: int
    act_bits: int
    accu_bits: int
    narrow_weights: bool
    pe: int
    simd: int

    @property
    def lanes(self) -> int:
        return mvu_lanes(self.weight_bits, self.act_bits, self.narrow_weights, self.version)

    def lane_widths(self) -> list[int]:
        return lane_widths(self.weight_bits, self.act_bits, self.accu_bits, self.narrow_weights, self.version)


def mvu_shape(inst, part: str, model=None) -> MvuShape | None:
    """The MVAU_rtl layer's packing parameters; None where another core serves it (DSP58's INT8 core)."""
    version = dsp_version(part)
    wb, ab = inst.get_input_datatype(1).bitwidth(), inst.get_input_datatype(0).bitwidth()
    narrow = narrow_weights(inst, model)
    if int8_core(wb, ab, narrow, version):
        return None
    return MvuShape(version, wb, ab, inst.get_output_datatype().bitwidth(), narrow, int(inst.get_nodeattr("PE")),
                    int(inst.get_nodeattr("SIMD")))


def mvau_rtl_dsps(inst, part: str, model=None) -> int | None:
    """DSP slices of an MVAU_rtl layer as mvu.sv builds it; None where another core serves it (DSP58's INT8
    core), whose figure FINN's estimate keeps."""
    shape = mvu_shape(inst, part, model)
    return None if shape is None else math.ceil(shape.pe / shape.lanes) * shape.simd

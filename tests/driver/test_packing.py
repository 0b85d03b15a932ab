"""Packing round trips through finn-plus-driver's functions, with its DMA overlay's flags."""
import numpy as np
import pytest
from finn_plus_driver.packing import finnpy_to_packed_bytearray, packed_bytearray_to_finnpy
from qonnx.core.datatype import DataType
from qonnx.util.basic import gen_finn_dt_tensor

FLAGS = dict(reverse_endian=True, reverse_inner=True)

# (datatype, folded shape): input codes INT8 as the ZCU104 VGG input (1024 x 2 channels, SIMD 2), the
# accelerator's logits (INT11, INT13, INT16 at PE 4), 4-bit activations, 1-bit and odd widths
CASES = [
    ("INT8", (3, 1024, 1, 1, 2)),
    ("UINT8", (2, 1024, 1, 1, 2)),
    ("INT11", (3, 6, 4)),
    ("INT13", (2, 6, 4)),
    ("INT16", (3, 6, 4)),
    ("INT4", (2, 8, 16)),
    ("UINT4", (2, 8, 16)),
    ("INT2", (2, 5, 3)),
    ("BIPOLAR", (2, 4, 8)),
    ("UINT1", (2, 4, 9)),
    ("INT24", (2, 3, 5)),
]


@pytest.mark.parametrize("dt_name,shape", CASES)
def test_round_trip(dt_name, shape):
    dt = DataType[dt_name]
    x = gen_finn_dt_tensor(dt, shape).astype(np.float32)
    packed = finnpy_to_packed_bytearray(x, dt, **FLAGS)
    assert packed.dtype == np.uint8
    assert packed.shape == (*shape[:-1], (dt.bitwidth() * shape[-1] + 7) // 8)
    back = packed_bytearray_to_finnpy(np.ascontiguousarray(packed), dt, shape, **FLAGS)
    assert np.array_equal(back, x)


def test_native_int8_container_packs_like_float_container():
    """throughput tests feed int8 arrays (fast path); data from the front end is float32"""
    x = gen_finn_dt_tensor(DataType["INT8"], (2, 1024, 1, 1, 2))
    a = finnpy_to_packed_bytearray(x.astype(np.float32), DataType["INT8"], **FLAGS)
    b = finnpy_to_packed_bytearray(x.astype(np.int8), DataType["INT8"], **FLAGS)
    assert np.array_equal(a, b)


def test_bit_layout_is_the_dma_convention():
    """Element 0 in the least significant bits, bytes little endian: [1, -1] as INT4 is 0xF1;
    [1, 2, 3] as INT11 is 33 bits -> 5 bytes, value k at bit offset 11 k."""
    p = finnpy_to_packed_bytearray(np.array([[1, -1]], np.float32), DataType["INT4"], **FLAGS)
    assert p.tolist() == [[0xF1]]
    p = finnpy_to_packed_bytearray(np.array([[1, 2, 3]], np.float32), DataType["INT11"], **FLAGS)
    word = int.from_bytes(bytes(p[0].tolist()), "little")
    assert p.shape == (1, 5) and word == 1 | (2 << 11) | (3 << 22)


def test_values_outside_the_datatype_are_refused():
    with pytest.raises(AssertionError):
        finnpy_to_packed_bytearray(np.array([[8.0, 0.0]], np.float32), DataType["INT4"], **FLAGS)

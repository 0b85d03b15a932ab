"""StreamingGlobalMaxPool: a global max pool in one streaming pass (generic HW op and RTL backend).

FINN builds a max pool whose window covers the whole input (nn.MaxPool1d over the remaining length, a
GlobalMaxPool) as a sliding window generator that buffers the frame and re-reads it for Pool; that
generator bounds throughput (BacalhauNet: about 16,000 frames/s). finn-plus 1.6.1 has no layer that
does it in one pass: GlobalAccPool only sums, StreamingMaxPool is gone, Pool needs the window
generator's stream order. This op reads the frame once in its own order (position, channel fold, PE
lanes), keeps a running maximum per channel and emits C/PE beats per frame: H*W*C/PE cycles per frame.
compile/transforms/global_pool.py puts it in place of such MaxPools; RTL in hdl/global_max_pool.sv.
"""
from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType

from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
from finn.custom_op.fpgadataflow.rtlbackend import RTLBackend

from .lutram import lutram_luts
from .template_rtl import GenericExecRTL, RegistersOnly, TemplateRTL, passthrough_wrapper

#: LUT estimate per element bit of a beat: a comparator, a 2:1 select and the queue's select,
#: as Yosys synthesizes the core for UltraScale+ (scripts/synth_rtl_layers.py, docs/results.md)
LUTS_PER_ELEM_BIT = 2.5
#: LUT estimate of the position and fold counters and the handshake logic
LUTS_CONTROL = 10


class StreamingGlobalMaxPool(RegistersOnly, HWCustomOp):
    """Max over all spatial positions of an NHWC (1, H, W, C) stream, per channel -> (1, 1, 1, C)."""

    def get_nodeattr_types(self):
        attrs = {
            "NumChannels": ("i", True, 0),
            "PE": ("i", True, 1),
            "ImgDims": ("ints", True, [1, 1]),  # input [H, W]
            "inputDataType": ("s", True, ""),
        }
        attrs.update(super().get_nodeattr_types())
        return attrs

    def _folds(self) -> int:
        ch, pe = self.get_nodeattr("NumChannels"), self.get_nodeattr("PE")
        if pe < 1 or ch % pe:
            raise ValueError(f"{self.onnx_node.name}: PE={pe} must divide NumChannels={ch}")
        return ch // pe

    def positions(self) -> int:
        return int(np.prod(self.get_nodeattr("ImgDims")))

    def get_normal_input_shape(self, ind=0):
        return (1, *self.get_nodeattr("ImgDims"), self.get_nodeattr("NumChannels"))

    def get_normal_output_shape(self, ind=0):
        return (1, 1, 1, self.get_nodeattr("NumChannels"))

    def get_folded_input_shape(self, ind=0):
        return (1, *self.get_nodeattr("ImgDims"), self._folds(), self.get_nodeattr("PE"))

    def get_folded_output_shape(self, ind=0):
        return (1, 1, 1, self._folds(), self.get_nodeattr("PE"))

    def get_input_datatype(self, ind=0):
        return DataType[self.get_nodeattr("inputDataType")]

    def get_output_datatype(self, ind=0):
        return self.get_input_datatype()  # a maximum of its inputs

    def get_instream_width(self, ind=0):
        return self.get_nodeattr("PE") * self.get_input_datatype().bitwidth()

    def get_outstream_width(self, ind=0):
        return self.get_instream_width()

    def get_exp_cycles(self):
        return self.positions() * self._folds()  # one input beat per cycle; results leave meanwhile

    def infer_node_datatype(self, model):
        idt = model.get_tensor_datatype(self.onnx_node.input[0])
        self.set_nodeattr("inputDataType", idt.name)
        model.set_tensor_datatype(self.onnx_node.output[0], idt)

    def execute_node(self, context, graph):
        node = self.onnx_node
        x = context[node.input[0]].reshape(self.get_normal_input_shape())
        context[node.output[0]] = x.max(axis=(1, 2), keepdims=True).astype(np.float32)

    def verify_node(self):
        return []

    def lut_estimation(self, fpgapart):
        bits = self.get_instream_width()
        folds = self._folds()
        memory = lutram_luts(bits, folds) if folds > 1 else 0  # the running maxima; registers when one fold
        return LUTS_PER_ELEM_BIT * bits + LUTS_CONTROL + memory


class StreamingGlobalMaxPool_rtl(GenericExecRTL, TemplateRTL, StreamingGlobalMaxPool, RTLBackend):
    """StreamingGlobalMaxPool from hdl/global_max_pool.sv (the Python model above runs it otherwise)."""

    GENERIC = StreamingGlobalMaxPool
    CORES = ("output_queue.sv", "global_max_pool.sv")

    def wrapper(self):
        idt = self.get_input_datatype()
        if not idt.is_integer():
            raise ValueError(f"{self.onnx_node.name}: StreamingGlobalMaxPool_rtl needs an integer input, "
                             f"not {idt.name}; quantize the activation before the global pool")
        pe, bits = self.get_nodeattr("PE"), idt.bitwidth()
        return passthrough_wrapper("global_max_pool", {"PE": pe, "ELEM_BITS": bits, "SIGNED": int(idt.signed()),
                                                       "FOLDS": self._folds(), "POSITIONS": self.positions()},
                                   pe * bits)

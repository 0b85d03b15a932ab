"""Software reference for the driver tests (runs in the compile environment): the QONNX model's logits on
float frames read from the HDF5 file, written in the run folder's predictions.npz schema.

    python qonnx_reference.py model.onnx data.h5 subset.npz predictions.npz
"""
import sys

import h5py
import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.util.cleanup import cleanup_model

from model.metrics import top1  # the software evaluation's rule: ties to the lowest class

model_path, h5_path, subset_path, out_path = sys.argv[1:5]
model = cleanup_model(ModelWrapper(model_path))
sub = np.load(subset_path)
iname, oname = model.graph.input[0].name, model.graph.output[0].name
with h5py.File(h5_path, "r") as f:
    order = np.argsort(sub["index"])
    frames = np.empty((len(order), 1024, 2), np.float32)
    frames[order] = f["X"][sub["index"][order].tolist()]
logits = np.stack([execute_onnx(model, {iname: fr.T[None].astype(np.float32)})[oname].reshape(-1) for fr in frames])
np.savez(out_path, index=sub["index"], label=sub["label"].astype(np.uint8), snr_db=sub["snr_db"].astype(np.int8),
         predicted=top1(logits).astype(np.uint8), logits=logits.astype(np.float32))

"""QONNX to FINN dataflow accelerator. Reads model.onnx and io.json; never imports model/ or torch."""

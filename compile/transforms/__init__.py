"""Graph rewrites of the compile flow, one per module, each a qonnx Transformation that compile/steps.py
applies with `model.transform(...)`: what FINN's and qonnx's transformations do not do for this project's
networks (the input quantizer and a polyphase view moved to the host, MultiThreshold ranges, 1-D graphs,
forks and residual joins, parallel branches, residual adds on two scales, unrolled depthwise layers, global
pools, bit widths in the order finn-plus needs)."""

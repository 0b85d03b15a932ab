"""Graph rewrites of the compile flow, one per module: what FINN's and qonnx's transformations do not do for
this project's networks (1-D graphs, parallel branches, residual adds, unrolled depthwise layers, global
pools, the polyphase input view). compile/steps.py applies them."""

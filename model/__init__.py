"""Training side of the toolchain: RadioML data, quantized networks, training, pruning, QONNX export, cost.

Nothing here knows about boards; compile/ and driver/ read the files this stage writes (see README).
"""

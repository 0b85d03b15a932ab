"""Compression methods, each a reusable piece configured per recipe.

objectives  cross-entropy with auxiliary heads and knowledge distillation
pruning     unstructured magnitude (global L1, iterative) and threshold pruning, masks, permanence
channels    structured (channel) pruning through torch-pruning, and rebuilding narrowed networks
bits        lowering weight and activation bit widths by rebuilding the network with new arguments
stages      the compression schedule of a recipe: stages of prune / lower / fine-tune, resumable
"""

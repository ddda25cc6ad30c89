"""Robust Video Matting (Lin et al., 2021, arXiv 2108.11515) written for rtmatte in PyTorch.

The network is in :mod:`.network`; :mod:`.tensors` names its graph's inputs and outputs without
needing PyTorch, so ONNX Runtime code imports this package too.
"""

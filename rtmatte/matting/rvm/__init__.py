"""Robust Video Matting (Lin et al., 2021, arXiv 2108.11515) written for rtmatte in PyTorch."""

from rtmatte.matting.rvm.network import MattingNetwork, State

__all__ = ["MattingNetwork", "State"]

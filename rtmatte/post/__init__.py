"""Post-processing of the model's matte: the steps between the Matter and the Compositor."""

from rtmatte.post.chain import PostChain, PostSettings, build_post

__all__ = ["PostChain", "PostSettings", "build_post"]

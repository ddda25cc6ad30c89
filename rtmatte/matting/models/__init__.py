"""Model files: the catalogue, fetching and checking them, and what is derived from them
(PyTorch weights, exported and quantized graphs, TensorRT engines), each cached by content."""

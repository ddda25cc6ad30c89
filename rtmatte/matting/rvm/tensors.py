"""The names of the RVM graph's inputs and outputs, spelled here and nowhere else.

RVM's released ONNX files, rtmatte's exports and derived graphs, and every session that feeds
them agree on these; a graph whose names differ is not one rtmatte can run.
"""

from __future__ import annotations

#: the frame, (1, 3, H, W) in [0, 1]
SRC = "src"
#: the scale at which the network sees the frame; absent from exports that bake it in
RATIO = "downsample_ratio"
#: the recurrent state going in, r1 (finest) to r4 (coarsest)
STATE_INPUTS = ("r1i", "r2i", "r3i", "r4i")
#: the foreground colours and the matte, at the frame's size
FGR, PHA = "fgr", "pha"
#: the recurrent state coming out, in the order of :data:`STATE_INPUTS`
STATE_OUTPUTS = ("r1o", "r2o", "r3o", "r4o")

INPUTS = (SRC, *STATE_INPUTS, RATIO)
OUTPUTS = (FGR, PHA, *STATE_OUTPUTS)

#: the metadata entry in which `rtmatte models export` records the ratio it baked in
BAKED_RATIO_KEY = "rtmatte.downsample_ratio"

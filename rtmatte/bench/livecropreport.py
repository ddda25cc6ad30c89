"""The live crop's part of ``rtmatte bench``, in words: the lines printed from
:class:`~rtmatte.bench.livecrop.LiveCrop` (which measures; this only writes)."""

from __future__ import annotations

from rtmatte.bench.livecrop import LiveCrop, Way


def lines(figures: LiveCrop) -> list[str]:
    """A heading, then one line saying why there are no figures (the crop is off here), or one
    row per way and the ratios."""
    width, height = figures.size
    post = "post chain on" if figures.post else "no post chain"
    head = (f"live crop: clip {figures.clip} {width}x{height}, {figures.frames} frames, the "
            f"model on every frame at {figures.internal} px (ratio {figures.ratio:.3g}) on the "
            f"whole frame, the crop at the same working pixels; {post}")
    if figures.off:
        return [head, f"  {figures.off}"]
    assert figures.crop is not None and figures.whole is not None
    out = [head + f"; {figures.backend}, median of {figures.rounds} interleaved rounds",
           f"  {'':12} {'ms/frame':>9} {'MAD':>7} {'dtSSD':>7} {'share':>6}  scout runs",
           _row(figures.crop), _row(figures.whole)]
    ratios = figures.ratios
    out.append("  crop / whole: " + ", ".join(
        f"{name} {'-' if value is None else f'{value:.2f}x'}" for name, value in
        (("time", ratios["time"]), ("MAD", ratios["mad"]), ("dtSSD", ratios["dtssd"]))))
    out.append("  (MAD x1e3, dtSSD x1e2 against the exact alpha; share: of the frame the model "
               "looked at; time: the pacer's mean per frame, scout runs included)")
    if figures.crop.share >= 1.0:
        out.append("  the crop never engaged on this clip (the person with the margin round them "
                   "needs most of the frame): both rows matted the whole frame")
    return out


def _row(way: Way) -> str:
    return (f"  {way.name:12} {way.ms_per_frame:9.1f} {way.mad:7.2f} {way.dtssd:7.2f} "
            f"{way.share:6.2f}  {way.scout_runs}")

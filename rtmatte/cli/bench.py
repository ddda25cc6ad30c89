"""``rtmatte bench``: the body lives with the benchmarks (rtmatte/bench/pipeline.py)."""

from rtmatte.bench.pipeline import main as run

__all__ = ["run"]

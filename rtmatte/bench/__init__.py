"""Measurements: ``rtmatte bench`` (:mod:`.pipeline`) and the model-alone bench."""

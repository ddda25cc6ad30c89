"""The engine (engine.py: model, post chain and compositor, built once) and the two drivers that
hand it frames: every frame in order for files (offline.py, bounded queues), the newest frame
for live runs (live.py, the mailboxes of rtmatte/handover.py)."""

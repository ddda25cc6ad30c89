"""The two drivers over the same stages: every frame in order for files (bounded queues), the
newest frame for live runs (mailboxes)."""

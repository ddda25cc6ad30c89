"""Batches beyond one machine: a folder of videos over a Ray cluster's workers, and one long
video split into chunks matted side by side and joined again.

Ray is an optional extra (``pip install 'rtmatte[ray]'``); it is only imported once a cluster
run is asked for, so the single-machine path needs nothing more. ``driver`` runs a batch end to
end, ``plan`` decides the work (inputs and outputs, manifest skips, chunks), ``pool`` keeps the
Ray workers busy (retries, seams, joins, progress), ``worker`` is what runs in each Ray actor,
``manifest`` remembers what is finished so a rerun resumes, ``chunks`` splits and joins one
long video.
"""

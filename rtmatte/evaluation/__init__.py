"""Measuring matte quality on material whose ground truth is exactly known.

``metrics`` holds the scores of the RVM paper (arXiv 2108.11515) plus a flicker figure,
``material`` builds test clips from real photos, ``harness`` runs the model and the post chain
over them and ``report`` turns the results into a table, JSON and side-by-side pictures.
"""

"""Experiment commands (python -m symviz.experiments.NAME)."""

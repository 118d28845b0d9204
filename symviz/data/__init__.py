"""Datasets: 2D/1D toys, QM9 and GEOM readers, offline conformer ensembles, molecular graphs."""

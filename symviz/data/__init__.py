"""Datasets: 2D/1D toys, QM9 and GEOM readers, offline conformer ensembles, molecular graphs."""

from symviz.data import toys  # noqa: F401  (light; readers that need RDKit are imported explicitly)

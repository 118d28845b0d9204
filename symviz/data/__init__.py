"""Datasets: 2D/1D toys, QM9 and GEOM readers, offline conformer ensembles, molecular graphs.

``symviz.data.toys`` is imported eagerly (it is tiny). The RDKit-based readers are exported lazily, so
``import symviz`` stays light: ``sv.data.load_offline_ensembles`` imports ``symviz.data.ensembles`` on first use.
"""

from importlib import import_module

from symviz.data import toys  # noqa: F401

_LAZY = {
    "MoleculeEnsemble": "ensembles",
    "load_offline_ensembles": "ensembles",
    "DataFileError": "ensembles",
    "GeomRdkitFolder": "geom",
    "TorsionalDiffusionSplit": "geom",
    "TDTestSet": "geom",
    "geom_to_npz": "geom",
    "mol_to_graph": "molgraph",
    "collate_molecules": "molgraph",
    "automorphisms": "molgraph",
    "pad_automorphisms": "molgraph",
}

__all__ = ["toys", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f"symviz.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'symviz.data' has no attribute {name!r}")

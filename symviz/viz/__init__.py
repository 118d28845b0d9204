"""The 3D molecule viewer, offline. Import the modules explicitly (this package imports nothing):

- :mod:`symviz.viz.molview`: :func:`~symviz.viz.molview.show_conformers` (single, grid and overlay views of
  conformers, aligned on a reference) and its ``py3Dmol.view`` subclass ``ConformerView``; it re-exports the
  RDKit coordinate helpers ``as_mol``, ``conformers_to_mol`` and ``aligned_coordinates`` of
  :mod:`symviz.molecules.rdmol`.
- :mod:`symviz.viz.offline_js`: :func:`~symviz.viz.offline_js.enable_offline_3dmol` puts the vendored 3Dmol.js
  into the page, so no viewer contacts a CDN (docs/architecture.md#offline-js).

Plots of 2D point clouds are the widgets' (:mod:`symviz.widgets`, plotly) and the tutorials' own (matplotlib).
"""

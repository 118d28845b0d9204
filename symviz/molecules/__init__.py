"""Molecules: features, the group SO(3) x Aut(graph), training tensors and the molecule loss, frames.

- :mod:`symviz.molecules.features`: RDKit mol -> node and pair features, bond graph, automorphism tables.
- :mod:`symviz.molecules.training`: conformer tensors of a split and :class:`MoleculeLoss` (orbit target over
  rotations times the whole automorphism group, gathered per batch).
- :mod:`symviz.molecules.frames`: one molecule's x0, x_t and orbit target for tutorial 08's viewer, padded
  batches of molecules, finite rotation groups.
"""

from symviz.molecules.features import (
    NODE_DIM,
    NODE_FEATURES,
    PAIR_DIM,
    PAIR_FEATURES,
    MolFeatures,
    check_explicit_hydrogens,
    collate_features,
    featurize,
)
from symviz.molecules.frames import (
    DTYPE,
    MAX_K,
    ConformerFrame,
    MoleculeBatch,
    PreparedMolecule,
    conformer_frame,
    cube_rotations,
    molecule_batch,
    molecule_group,
    prepare_molecule,
    product_elements,
)
from symviz.molecules.training import TABLE_KEYS, MoleculeLoss, conformer_tensors, validation_loss

__all__ = [
    "NODE_FEATURES",
    "PAIR_FEATURES",
    "NODE_DIM",
    "PAIR_DIM",
    "MolFeatures",
    "featurize",
    "collate_features",
    "check_explicit_hydrogens",
    "conformer_tensors",
    "MoleculeLoss",
    "validation_loss",
    "TABLE_KEYS",
    "DTYPE",
    "MAX_K",
    "molecule_group",
    "cube_rotations",
    "product_elements",
    "PreparedMolecule",
    "prepare_molecule",
    "ConformerFrame",
    "conformer_frame",
    "MoleculeBatch",
    "molecule_batch",
]

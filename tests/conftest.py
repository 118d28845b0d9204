"""Shared test setup: one torch thread per worker (2-core machines oversubscribe easily)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

torch.set_num_threads(1)
settings.register_profile("symviz", max_examples=30, deadline=None)
settings.load_profile("symviz")


@pytest.fixture
def gen():
    """A seeded torch.Generator (fresh per test)."""
    return torch.Generator().manual_seed(1234)

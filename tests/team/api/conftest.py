"""pytest-jupyter's server fixtures (and its async test hooks) for the team API tests."""

from __future__ import annotations

# Imported rather than listed in ``pytest_plugins``, which pytest refuses below the root;
# its hooks (async tests) only take effect from a conftest.
from pytest_jupyter.jupyter_server import *  # noqa: F403

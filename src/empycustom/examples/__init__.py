"""Example custom libraries shipped with empycustom (also at the repository's examples/)."""

from __future__ import annotations

import os

EXAMPLES_DIR = os.path.dirname(os.path.abspath(__file__))


def example_path(name: str) -> str:
    """Path of a bundled example library, e.g. `example_path("average_intensity.py")`."""
    return os.path.join(EXAMPLES_DIR, name)

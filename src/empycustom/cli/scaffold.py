"""`empycustom new NAME.py`: a new custom library written from the template."""

from __future__ import annotations

import os
import shutil

from empycustom.examples import example_path

TEMPLATE = example_path("new_lib.py")


class ScaffoldError(Exception):
    """The library cannot be written where asked."""


def write_new_library(path: str, force: bool = False) -> str:
    """Copy the template to `path` (which must end with .py); returns the path written.

    An existing file is only replaced when `force` is true.
    """
    if not path.endswith(".py"):
        raise ScaffoldError(f"'{path}' must end with .py: the element imports it as a module")
    if os.path.isdir(path):
        raise ScaffoldError(f"'{path}' is a folder")
    if os.path.exists(path) and not force:
        raise ScaffoldError(f"'{path}' exists; use --force to replace it")
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        raise ScaffoldError(f"folder '{folder}' does not exist")
    shutil.copyfile(TEMPLATE, path)
    return path

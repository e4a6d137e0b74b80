"""`empycustom new NAME.py`: a new custom library written from the template."""

from __future__ import annotations

import os

from empycustom.examples import example_path

TEMPLATE = example_path("new_lib.py")
TEMPLATE_NAME = "new_lib.py"


def template_for(name: str) -> str:
    """The template's text for a library file called `name`: its docstring names the file
    and its commands try that file."""
    with open(TEMPLATE, encoding="utf-8") as template:
        text = template.read()
    text = text.replace(TEMPLATE_NAME, name)
    return text.replace('"""A new empycustom library:', f'"""{name}: a new empycustom library:', 1)


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
    with open(path, "w", encoding="utf-8") as library:
        library.write(template_for(os.path.basename(path)))
    return path

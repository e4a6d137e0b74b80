"""The package's layers: every module imports, and imports point one way (cli -> elements ->
publish -> meta -> frames -> library -> gst), as the packages' docstrings say."""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1] / "src" / "empycustom"
# Lower number = lower layer. A module may import its own layer and those below it.
LAYERS = {"_native": 0, "gst": 1, "library": 2, "frames": 3, "meta": 4, "publish": 5, "elements": 6,
          "cli": 7}
# Outside the layering: the public facade, the plugin-loader entries, the example libraries.
UNLAYERED = {"__init__", "plugins", "examples"}


def module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        if parts[0] in {"plugins", "examples"} and parts[-1] != "__init__":
            continue  # files loaded by path (plugin loader, custom-lib), not imported by name
        if parts[-1] == "__main__":
            continue  # runs the command when imported
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("empycustom", *parts)))
    return names


def imported_modules(path: pathlib.Path) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in imported if name.startswith("empycustom.")}


def layer_of(module: str) -> str:
    return module.split(".")[1]


@pytest.mark.parametrize("name", module_names())
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_every_package_folder_is_a_known_layer() -> None:
    folders = {p.name for p in PACKAGE_DIR.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - {"data"} == (set(LAYERS) | UNLAYERED) - {"_native", "__init__"}


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for path in PACKAGE_DIR.rglob("*.py"):
        source_layer = path.relative_to(PACKAGE_DIR).parts[0]
        if source_layer not in LAYERS:
            continue
        for module in imported_modules(path):
            target_layer = layer_of(module)
            if target_layer in LAYERS and LAYERS[target_layer] > LAYERS[source_layer]:
                wrong.append(f"{path.relative_to(PACKAGE_DIR)} imports {module}")
            if target_layer == "examples" and source_layer != "cli":
                wrong.append(f"{path.relative_to(PACKAGE_DIR)} imports {module}")
    assert wrong == []


def test_the_rule_check_sees_a_wrong_import(tmp_path: pathlib.Path) -> None:
    upward = tmp_path / "upward.py"
    upward.write_text("from empycustom.elements.registration import register\n")
    assert layer_of(sorted(imported_modules(upward))[0]) == "elements"

"""Making the elements available: in-process, or to gst-launch-1.0 through the plugin loader."""

from __future__ import annotations

import importlib
import os

from empycustom.gst.runtime import Gst

# element name -> "module:class"
ELEMENTS = {
    "empycustom": "empycustom.elements.empycustom:EmPyCustom",
    "aimeta": "empycustom.elements.aimeta:AiMeta",
    "perf": "empycustom.elements.perf:Perf",
    "metapublish": "empycustom.elements.metapublish:MetaPublish",
}


def element_class(name: str) -> type:
    module_name, class_name = ELEMENTS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def register() -> None:
    """Register every element of this package in the current process (for `Gst.parse_launch`)."""
    from empycustom.meta import custom_meta

    custom_meta.ensure_registered()
    for name in ELEMENTS:
        if Gst.ElementFactory.find(name) is None:
            Gst.Element.register(None, name, Gst.Rank.NONE, element_class(name))


def plugin_path() -> str:
    """The folder to put on GST_PLUGIN_PATH: the loader imports its `python/*.py` files."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(package_dir, "plugins")

"""Making the elements available: in-process, or to gst-launch-1.0 through the plugin loader."""

from __future__ import annotations

import importlib
import os

from empycustom.gst.clib import add_element_metadata
from empycustom.gst.runtime import Gst

# element name -> "module:class"
ELEMENTS = {
    "empycustom": "empycustom.elements.empycustom:EmPyCustom",
    "aimeta": "empycustom.elements.aimeta:AiMeta",
    "perf": "empycustom.elements.perf:Perf",
    "metapublish": "empycustom.elements.metapublish:MetaPublish",
}


PLUGIN_NAME = "empycustom"
PLUGIN_DESCRIPTION = "Custom Python processing of video buffers, and metadata elements"
PLUGIN_LICENSE = "LGPL"  # LGPL-2.1-or-later; GStreamer's name for the LGPL family


def package_version() -> str:
    from empycustom import __version__

    return __version__


def element_class(name: str) -> type:
    """The element's class, its factory metadata saying this package's version."""
    module_name, class_name = ELEMENTS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    add_element_metadata(cls, "version", package_version())
    return cls


def loader_entry(name: str) -> tuple[str, Gst.Rank, type]:
    """`__gstelementfactory__` of a plugin-loader file: the element, ready to register."""
    from empycustom.meta import custom_meta

    custom_meta.ensure_registered()
    return name, Gst.Rank.NONE, element_class(name)


def register() -> None:
    """Register every element of this package in the current process (for `Gst.parse_launch`),
    as the static plugin "empycustom" that reports this package's version."""
    from empycustom.meta import custom_meta

    custom_meta.ensure_registered()
    missing = [name for name in ELEMENTS if Gst.ElementFactory.find(name) is None]
    if not missing:
        return  # registered already, here or through the plugin loader

    def init(plugin: Gst.Plugin, *_data: object) -> bool:
        for name in missing:
            Gst.Element.register(plugin, name, Gst.Rank.NONE, element_class(name))
        return True

    major, minor, _micro, _nano = Gst.version()
    Gst.Plugin.register_static_full(
        major, minor, PLUGIN_NAME, PLUGIN_DESCRIPTION, init, package_version(),
        PLUGIN_LICENSE, PLUGIN_NAME, PLUGIN_NAME, "",
    )  # fmt: skip


def plugin_path() -> str:
    """The folder to put on GST_PLUGIN_PATH: the loader imports its `python/*.py` files."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(package_dir, "plugins")

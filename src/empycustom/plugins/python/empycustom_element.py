"""Plugin-loader entry for the `empycustom` element (GST_PLUGIN_PATH=$(empycustom plugin-path))."""

from empycustom.elements.registration import loader_entry

__gstelementfactory__ = loader_entry("empycustom")

"""The `empycustom` command and its subcommands (plugin-path, launch, demo, new, check).

The top layer: may import every other package; nothing imports it.
"""

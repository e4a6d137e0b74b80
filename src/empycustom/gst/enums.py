"""Enum property types: gst-inspect lists their choices, gst-launch refuses any other value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from empycustom import _native
from empycustom.gst.runtime import GObject


@dataclass(frozen=True)
class EnumType:
    """A registered GEnum whose values are the indexes of `nicks` (the words users type)."""

    gtype: GObject.GType
    nicks: tuple[str, ...]
    values: tuple[Any, ...]  # PyGObject's enum object for each nick, for get_property

    def nick(self, value: int) -> str:
        return self.nicks[int(value)]

    def value(self, nick: str) -> Any:
        return self.values[self.nicks.index(nick)]


def register_enum(name: str, choices: Sequence[tuple[str, str]]) -> EnumType:
    """Register (once per process) the GEnum `name` with `(nick, description)` choices."""
    _native.register_enum(name, choices)
    gtype = GObject.GType.from_name(name)
    GObject.Value(gtype)  # makes PyGObject create the Python class of the type
    enum_class = gtype.pytype or _enum_class(gtype)
    values = tuple(enum_class(index) for index in range(len(choices)))
    return EnumType(gtype, tuple(nick for nick, _ in choices), values)


def _enum_class(gtype: GObject.GType) -> type:
    """PyGObject's class for an enum type it has not wrapped yet (plain int if it cannot)."""
    try:
        from gi._gi import enum_add  # not public, present in PyGObject 3.42 to 3.50

        return enum_add(gtype)
    except (ImportError, TypeError, RuntimeError):
        return int

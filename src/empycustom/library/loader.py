"""Loading a custom library file and checking it against the contract ("Virtual Methods")."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any


class LibraryError(Exception):
    """A custom library that cannot be used; `debug` holds the traceback when there is one."""

    def __init__(self, message: str, debug: str = "") -> None:
        super().__init__(message)
        self.debug = debug


def required_function(in_place: bool, batch: bool = False) -> str:
    """The function a library must define for the given `in-place` value (and batch-size > 1)."""
    if batch:
        return "process_batch"
    return "process_ip" if in_place else "process"


def module_name_for(path: str) -> str:
    """A module name unique to the file's absolute path, so two `lib.py` files never collide."""
    absolute = os.path.realpath(path)
    digest = hashlib.sha1(absolute.encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(absolute))[0])
    return f"empycustom_lib_{digest}_{stem}"


@dataclass
class CustomLibrary:
    """A loaded library: its module and the contract functions it defines (None when absent)."""

    path: str
    module: ModuleType
    start: Callable[[dict[str, Any]], Any] | None
    stop: Callable[[dict[str, Any]], Any] | None
    process: Callable[..., Any] | None
    process_ip: Callable[..., Any] | None
    process_batch: Callable[..., Any] | None = None

    def function(self, name: str) -> Callable[..., Any] | None:
        return getattr(self, name)

    def unload(self) -> None:
        # A newer version of the same file (hot reload) may own the name by now.
        if sys.modules.get(self.module.__name__) is self.module:
            del sys.modules[self.module.__name__]


def load_library(path: str | None, in_place: bool, batch: bool = False) -> CustomLibrary:
    """Import the file at `path` and check it defines what `in_place` (and `batch`) needs.

    Raises `LibraryError` with a message naming the property or function.
    """
    library = import_library(path)
    needed = required_function(in_place, batch)
    if library.function(needed) is None:
        library.unload()
        needs = "batch-size > 1" if batch else f"in-place={'true' if in_place else 'false'}"
        raise LibraryError(f"custom-lib '{path}' has no function {needed}(), which {needs} needs")
    return library


def import_library(path: str | None) -> CustomLibrary:
    """Import the file at `path`, whichever contract functions it defines.

    The file's current text is compiled every time (no `.pyc`: Python's bytecode cache compares
    whole seconds and the size, so a quick same-size edit would run stale code after a reload).
    Any file that is not Python source (a compiled `.so` module, a binary) raises `LibraryError`.
    """
    if not path:
        raise LibraryError("property 'custom-lib' is not set: give the path of a Python file")
    if not os.path.isfile(path):
        raise LibraryError(f"custom-lib '{path}' does not exist or is not a file")
    name = module_name_for(path)
    previous = sys.modules.get(name)  # the running version, while hot reloading
    try:
        with open(path, "rb") as file:
            source = file.read()
        if b"\0" in source:
            raise LibraryError(
                f"custom-lib '{path}' is not Python source text (a compiled module or another "
                "binary file): give the path of the .py file that defines the functions"
            )
        code = compile(source, path, "exec", dont_inherit=True)
        spec = importlib.util.spec_from_loader(name, loader=None, origin=path)
        module = importlib.util.module_from_spec(spec)
        module.__file__ = path
        spec.has_location = True
        sys.modules[name] = module
        exec(code, module.__dict__)
    except LibraryError:
        raise
    except BaseException as error:  # SyntaxError, ImportError, SystemExit, OSError, ...
        _restore_module(name, previous)
        raise LibraryError(
            f"custom-lib '{path}' failed to import: {type(error).__name__}: {error}",
            traceback.format_exc(),
        ) from None
    try:
        functions = {
            fname: _callable_or_none(module, fname, path)
            for fname in ("start", "stop", "process", "process_ip", "process_batch")
        }
    except LibraryError:
        _restore_module(name, previous)
        raise
    return CustomLibrary(path=path, module=module, **functions)


# How the element calls each function of the contract.
ARGUMENTS = {
    "start": "options",
    "stop": "options",
    "process": "in_buffer, in_meta, options, events",
    "process_ip": "io_buffer, in_meta, options, events",
    "process_batch": "buffers, in_meta, options, events",
}


def _callable_or_none(module: ModuleType, name: str, path: str) -> Callable[..., Any] | None:
    value = getattr(module, name, None)
    if value is None:
        return None
    if not callable(value):
        raise LibraryError(f"custom-lib '{path}': {name} is not a function")
    arguments = ARGUMENTS[name]
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):  # builtins and C functions may have none
        return value
    try:
        signature.bind(*arguments.split(", "))
    except TypeError as error:
        raise LibraryError(
            f"custom-lib '{path}': {name}{signature} cannot be called as {name}({arguments}): "
            f"{error}"
        ) from None
    return value


def _restore_module(name: str, previous: ModuleType | None) -> None:
    if previous is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = previous


def start_library(library: CustomLibrary, options: dict[str, Any]) -> None:
    """Call the library's start(); raises `LibraryError` (with the traceback) if it fails."""
    if library.start is None:
        return
    try:
        library.start(options)
    except BaseException as error:  # SystemExit too: a library must not end the application
        raise LibraryError(
            f"start() of custom-lib '{library.path}' raised {type(error).__name__}: {error}",
            traceback.format_exc(),
        ) from None


def stop_library(library: CustomLibrary, options: dict[str, Any]) -> LibraryError | None:
    """Call the library's stop() and unload it; returns the failure instead of raising."""
    try:
        if library.stop is not None:
            library.stop(options)
    except BaseException as error:
        return LibraryError(
            f"stop() of custom-lib '{library.path}' raised {type(error).__name__}: {error}",
            traceback.format_exc(),
        )
    finally:
        library.unload()
    return None

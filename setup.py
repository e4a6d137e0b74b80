"""Builds the C extension `empycustom._native` against GStreamer; the rest is in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys

from setuptools import Extension, setup

GSTREAMER_MODULES = ["gstreamer-1.0", "gstreamer-base-1.0", "gstreamer-video-1.0"]
DEBIAN_PACKAGES = "pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev"


def gstreamer_flags() -> list[str]:
    """The compiler and linker flags pkg-config gives for GStreamer; exits naming the Debian
    packages to install when it cannot."""
    command = ["pkg-config", "--cflags", "--libs", *GSTREAMER_MODULES]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        reason = str(error)
    else:
        if completed.returncode == 0:
            return completed.stdout.split()
        reason = completed.stderr.strip()
    sys.exit(
        "empycustom: building the C extension empycustom._native needs the GStreamer development "
        f"files, found through `{' '.join(command)}`, which failed: {reason}\n"
        f"On Debian/Ubuntu: sudo apt-get install {DEBIAN_PACKAGES} "
        "(or run scripts/setup.sh)."
    )


def native_extension() -> Extension:
    flags = gstreamer_flags()
    return Extension(
        "empycustom._native",
        sources=["src/empycustom/_native.c", "src/empycustom/_native_json.c",
                 "src/empycustom/_native_frames.c"],
        depends=["src/empycustom/_native.h"],
        include_dirs=[flag[2:] for flag in flags if flag.startswith("-I")],
        library_dirs=[flag[2:] for flag in flags if flag.startswith("-L")],
        libraries=[flag[2:] for flag in flags if flag.startswith("-l")],
        extra_compile_args=[flag for flag in flags if flag[:2] not in {"-I", "-L", "-l"}],
        extra_link_args=["-s"],  # no debug symbols in the installed module
    )


setup(ext_modules=[native_extension()])

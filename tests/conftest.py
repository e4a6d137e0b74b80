"""Shared set-up: an isolated GStreamer registry, the elements registered in-process, helpers."""

from __future__ import annotations

import os
import tempfile

# Before GStreamer initialises: a private registry (a failed plugin-loader import is cached in
# the user's registry) and no noise from OpenCV's missing optional cascades.
_registry_dir = tempfile.mkdtemp(prefix="empycustom-registry-")
os.environ["GST_REGISTRY"] = os.path.join(_registry_dir, "registry.bin")
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")

import pytest  # noqa: E402
from pipeline import LibraryWriter, run_gst_launch, run_pipeline  # noqa: E402

import empycustom  # noqa: E402

empycustom.register()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", help="also run the long tests marked slow (make soak)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long-running: use --run-slow (make soak)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


_FIGURES: list[str] = []


@pytest.fixture
def report_figure():
    """`report_figure(line)`: a measured figure, printed in the summary at the end of the run."""
    return _FIGURES.append


def pytest_terminal_summary(terminalreporter) -> None:
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def write_library(tmp_path) -> LibraryWriter:
    """Write a custom library file from source text; returns its path."""
    return LibraryWriter(tmp_path)


@pytest.fixture
def pipeline():
    """`run_pipeline(description, ...)`: run an in-process pipeline to EOS or error."""
    return run_pipeline


@pytest.fixture
def gst_launch():
    """`run_gst_launch(description, ...)`: run gst-launch-1.0 with the plugin loader."""
    return run_gst_launch

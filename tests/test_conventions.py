"""GStreamer conventions: mutable-state flags on properties, the plugin's version, the
new-meta argument's name; what gst-inspect-1.0 shows of them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pipeline import gst_environment

import empycustom
from empycustom.gst.runtime import GObject, Gst

# Properties that take effect while playing, and some read when the element starts.
WHILE_PLAYING = {
    "empycustom": {"options", "events", "process-interval", "silent", "on-error", "reload",
                   "labels", "slow-call-warning"},
    "aimeta": {"silent"},
    "perf": {"interval", "silent", "print-arm-load"},
    "metapublish": {"skip-empty", "publish-interval", "stop-timeout"},
}  # fmt: skip
BEFORE_START = {
    "empycustom": {"custom-lib", "in-place", "workers", "worker-kind", "worker-timeout",
                   "batch-size", "batch-timeout"},
    "aimeta": {"location"},
    "metapublish": {"broker", "source", "outbox", "outbox-limit", "password", "ca-file",
                    "cert-file", "key-file", "reconnect-max"},
}  # fmt: skip


def own_properties(element: str) -> dict[str, Gst.ParamSpec]:
    made = Gst.ElementFactory.make(element)
    base = {spec.name for spec in Gst.Element.list_properties()} | {"qos"}
    return {spec.name: spec for spec in made.list_properties() if spec.name not in base}


@pytest.mark.parametrize("element", sorted(WHILE_PLAYING))
def test_mutable_flags_say_when_each_property_may_change(element: str):
    specs = own_properties(element)
    writable = {n for n, s in specs.items() if s.flags & Gst.PARAM_MUTABLE_PLAYING}
    ready_only = {
        n for n, s in specs.items()
        if s.flags & Gst.PARAM_MUTABLE_READY and not s.flags & Gst.PARAM_MUTABLE_PLAYING
    }  # fmt: skip
    assert WHILE_PLAYING[element] <= writable
    assert BEFORE_START.get(element, set()) <= ready_only
    # Every writable property says one or the other (new ones too).
    settable = {n for n, s in specs.items() if s.flags & GObject.ParamFlags.WRITABLE}
    assert settable == writable | ready_only


def run_inspect(element: str) -> str:
    result = subprocess.run(
        ["gst-inspect-1.0", element], capture_output=True, text=True, timeout=120,
        env=gst_environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gst_inspect_shows_the_version_the_flags_and_the_signal_argument():
    text = run_inspect("empycustom")
    factory = text[: text.index("Plugin Details")]
    assert f"Version                  {empycustom.__version__}\n" in factory
    assert "new-meta(meta_json)" in factory
    options = text[text.index("  options "):]
    assert "changeable in NULL, READY, PAUSED or PLAYING state" in options.split("\n")[1]
    custom_lib = text[text.index("  custom-lib "):]
    assert "changeable only in NULL or READY state" in custom_lib.split("\n")[1]
    for other in ("aimeta", "perf"):
        assert f"Version                  {empycustom.__version__}\n" in run_inspect(other)
    aimeta = run_inspect("aimeta")
    assert "new-meta(meta_json)" in aimeta[: aimeta.index("Plugin Details")]


def test_in_process_the_elements_belong_to_a_plugin_with_the_package_version():
    code = (
        "import empycustom; empycustom.register(); from gi.repository import Gst; "
        "plugins = {Gst.ElementFactory.find(n).get_plugin() for n in "
        "('empycustom', 'aimeta', 'perf')}; "
        "print(*[(p.get_name(), p.get_version(), p.get_license()) for p in plugins])"
    )
    env = dict(os.environ)
    env.pop("GST_PLUGIN_PATH", None)  # not through the plugin loader
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(("empycustom", empycustom.__version__, "LGPL"))
    assert "CRITICAL" not in result.stderr

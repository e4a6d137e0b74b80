"""A plain `pip install .` (not editable) into a fresh venv with the system site packages, used
from outside the repository: gst-inspect, a pipeline and the demo without a CRITICAL; the
installed files are the wheel's: a LICENSE, no C source, a stripped extension, no missing data."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(
    not os.path.exists(SYSTEM_PYTHON), reason="needs the system Python the venv is made from"
)


class Venv:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.bin = folder / "bin"
        self.outside = folder.parent / "elsewhere"  # not the repository's folder
        self.outside.mkdir(exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GST_", "OPENCV"))}
        env.pop("PYTHONPATH", None)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"  # the loader's python
        env["VIRTUAL_ENV"] = str(self.folder)
        env["GST_REGISTRY"] = str(self.folder / "registry.bin")  # a first run's registry
        return env

    def run(self, *command: str | Path, env: dict[str, str] | None = None, timeout: float = 300):
        return subprocess.run(
            [str(part) for part in command], capture_output=True, text=True, timeout=timeout,
            cwd=self.outside, env=env or self.env(),
        )  # fmt: skip

    def site_package(self) -> Path:
        code = "import empycustom, os; print(os.path.dirname(empycustom.__file__))"
        result = self.run(self.bin / "python", "-c", code)
        assert result.returncode == 0, result.stderr
        return Path(result.stdout.strip())


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Venv:
    folder = tmp_path_factory.mktemp("install") / "venv"
    made = subprocess.run(
        [SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", str(folder)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    env = Venv(folder)
    installed = env.run(env.bin / "pip", "install", "-q", ROOT, timeout=900)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return env


def test_installed_files_are_the_wheels(venv: Venv):
    package = venv.site_package()
    assert str(package).startswith(str(venv.folder))  # installed, not the repository's src/
    files = {str(p.relative_to(package)) for p in package.rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith(".c")], files
    assert {"data/astronaut-faces.png", "plugins/python/empycustom_element.py"} <= files
    assert not any(f.startswith("templates") for f in files)
    (native,) = [package / f for f in files if f.startswith("_native") and f.endswith(".so")]
    sections = subprocess.run(["readelf", "-S", str(native)], capture_output=True, text=True)
    assert sections.returncode == 0
    assert ".symtab" not in sections.stdout and ".debug_" not in sections.stdout
    dist_info = next(package.parent.glob("empycustom-*.dist-info"))
    licenses = list(dist_info.rglob("LICENSE"))
    assert len(licenses) == 1
    assert licenses[0].read_text() == (ROOT / "LICENSE").read_text()
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in licenses[0].read_text()
    metadata = (dist_info / "METADATA").read_text()
    assert "License-Expression: LGPL-2.1-or-later" in metadata
    assert "Requires-Dist: PyGObject" in metadata


def test_pygobject_is_recent_enough(venv: Venv):
    result = venv.run(venv.bin / "python", "-c", "import gi; print(gi.version_info >= (3, 43, 1))")
    assert result.stdout.strip() == "True", result.stderr


def test_gst_inspect_and_a_pipeline_without_critical(venv: Venv):
    env = venv.env()
    path = venv.run(venv.bin / "empycustom", "plugin-path")
    assert path.returncode == 0, path.stderr
    env["GST_PLUGIN_PATH"] = path.stdout.strip()
    inspect = venv.run("gst-inspect-1.0", "empycustom", env=env)
    assert inspect.returncode == 0, inspect.stderr
    assert "custom-lib" in inspect.stdout and "CRITICAL" not in inspect.stderr, inspect.stderr
    example = venv.site_package() / "examples" / "average_intensity.py"
    launch = venv.run(
        "gst-launch-1.0", "-q", "videotestsrc", "num-buffers=5", "!", "video/x-raw,format=RGBA",
        "!", "empycustom", f"custom-lib={example}", "in-place=true", "!",
        "aimeta", "location=-", "!", "fakesink", env=env,
    )  # fmt: skip
    assert launch.returncode == 0, launch.stderr
    assert "CRITICAL" not in launch.stderr, launch.stderr
    assert launch.stdout.count('"average_intensity"') == 5
    own = venv.run(
        venv.bin / "empycustom", "launch", "-q", "videotestsrc", "num-buffers=3", "!",
        "empycustom", f"custom-lib={example}", "in-place=true", "!", "fakesink",
    )  # fmt: skip
    assert own.returncode == 0 and "CRITICAL" not in own.stderr, own.stderr


def test_demo_names_the_missing_extra_then_runs(venv: Venv):
    has_cv2 = venv.run(venv.bin / "python", "-c", "import cv2")
    if has_cv2.returncode != 0:
        refused = venv.run(venv.bin / "empycustom", "demo", "--output", "out-none")
        assert refused.returncode == 1
        assert "pip install 'empycustom[opencv]'" in refused.stderr, refused.stderr
        assert not (venv.outside / "out-none").exists()  # nothing created before the check
        extra = venv.run(venv.bin / "pip", "install", "-q", f"{ROOT}[opencv]", timeout=900)
        assert extra.returncode == 0, extra.stderr
    demo = venv.run(venv.bin / "empycustom", "demo", "--frames", "6", "--output", "out")
    assert demo.returncode == 0, demo.stderr
    assert "CRITICAL" not in demo.stderr and "[ERROR" not in demo.stderr, demo.stderr
    assert (venv.outside / "out" / "demo.mp4").stat().st_size > 0
    assert len((venv.outside / "out" / "demo.jsonl").read_text().splitlines()) == 6


def test_the_check_is_plain_data():
    from empycustom.gst.runtime import pygobject_problem

    assert pygobject_problem((3, 48, 2)) is None and pygobject_problem((3, 43, 1)) is None
    problem = pygobject_problem((3, 42, 2))
    assert "PyGObject 3.42.2" in problem and "should be floating" in problem
    assert "pip install 'PyGObject>=3.43.1,<3.50'" in problem


def test_package_data_lists_only_what_exists():
    import tomllib

    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package = ROOT / "src" / "empycustom"
    for pattern in settings["package-data"]["empycustom"]:
        assert list(package.glob(pattern)), f"package-data {pattern!r} matches no file"

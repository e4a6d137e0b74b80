"""Every pipeline and command the README shows runs as written (docs cannot rot).

Fenced `sh` blocks run as bash scripts, in order, in one workspace that sees the repository's
examples/ and tests/; `python NAME.py` blocks are written there as files first. A block right
after an `<!-- not run: reason -->` line is skipped (a window, a model file of your own), and
blocks that call `make` are what the two set-up commands are.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipeline import gst_environment

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\S*)[ \t]*(\S*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    language: str
    name: str
    code: str
    line: int
    skip_reason: str | None


def readme_blocks() -> list[Block]:
    text = README.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = re.fullmatch(r"<!-- not run: (.*) -->", before)
        blocks.append(
            Block(
                language=match.group(1),
                name=match.group(2),
                code=match.group(3),
                line=text[: match.start()].count("\n") + 1,
                skip_reason=skip.group(1) if skip else None,
            )
        )
    return blocks


BLOCKS = readme_blocks()
SHELL_BLOCKS = [
    block
    for block in BLOCKS
    if block.language == "sh" and not re.search(r"^make ", block.code, re.MULTILINE)
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    for name in ("examples", "tests", "src", ".venv"):
        (folder / name).symlink_to(ROOT / name)
    for block in BLOCKS:
        if block.language == "python" and block.name.endswith(".py"):
            (folder / block.name).write_text(block.code)
    return folder


def run_block(block: Block, workspace: Path) -> subprocess.CompletedProcess[str]:
    env = gst_environment({"GST_DEBUG_NO_COLOR": "1"})
    env.pop("OPENCV_LOG_LEVEL", None)  # as in a user's shell: the README must say what it needs
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_the_readme_starts_with_the_two_set_up_commands():
    first = BLOCKS[0]
    assert first.language == "sh" and first.line <= 5
    assert [line.split()[:2] for line in first.code.splitlines()] == [
        ["make", "demo"],
        ["make", "test"],
    ]


def test_the_readme_has_runnable_blocks():
    assert len([b for b in SHELL_BLOCKS if b.skip_reason is None]) >= 8
    assert {b.name for b in BLOCKS if b.language == "python"} >= {"brightness.py", "app.py"}


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda block: f"README.md:{block.line}")
def test_readme_shell_block_runs(block: Block, workspace: Path):
    if block.skip_reason:
        pytest.skip(block.skip_reason)
    result = run_block(block, workspace)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"README.md:{block.line}\n{block.code}\n{output[-3000:]}"
    assert "CRITICAL" not in output and "Traceback" not in output, output[-3000:]
    assert "ERROR" not in output.replace("OPENCV_LOG_LEVEL", ""), output[-3000:]


def test_tutorial_output_is_what_the_readme_says(workspace: Path):
    text = README.read_text()
    claimed = re.search(r'ending in `"emcustom":(\{"bright_fraction":[0-9.]+\})`', text)
    printed = re.search(r"app\.py +# (\{'bright_fraction': [0-9.]+\}) for each frame", text)
    assert claimed and printed
    run = next(b for b in SHELL_BLOCKS if "app.py" in b.code)
    result = run_block(run, workspace)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 30 and set(lines) == {printed.group(1)}
    gst = next(b for b in SHELL_BLOCKS if "brightness.py in-place=true" in b.code)
    result = run_block(gst, workspace)
    assert result.returncode == 0, result.stderr
    frames = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(frames) == 30
    assert all(line.endswith(f'"emcustom":{claimed.group(1)}}}]}}') for line in frames), frames[0]


def test_readme_sections_link_to_existing_headings():
    text = README.read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    }
    for link in re.findall(r"\]\(#([^)]+)\)", text):
        assert link in anchors, f"README link #{link} has no heading"
    assert os.path.exists(ROOT / "examples" / "average_intensity.py")


def run_python_block(name: str, folder: Path) -> subprocess.CompletedProcess[str]:
    block = next(b for b in BLOCKS if b.language == "python" and b.name == name)
    (folder / name).write_text(block.code)
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), name], cwd=folder, env=gst_environment(),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_using_the_element_snippet_plays_the_pipeline(workspace: Path):
    result = run_python_block("using_the_element.py", workspace)
    assert result.returncode == 0, result.stderr
    metas = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(metas) == 30
    assert all("average_intensity" in meta["frame"][0]["emcustom"] for meta in metas)


def test_tutorial_app_says_why_the_pipeline_failed(tmp_path: Path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    result = run_python_block("app.py", tmp_path)  # no brightness.py in this folder
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: ") and "custom-lib" in result.stderr, result.stderr
    assert "brightness.py" in result.stderr


def test_files_the_tutorial_writes_in_the_repository_do_not_break_lint():
    probe = ROOT / "app_lint_probe.py"  # unsorted imports, as app.py's are for ruff here
    probe.write_text("import json\n\nimport empycustom\nfrom gi.repository import Gst\n")
    try:
        result = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "ruff"), "check", "."], cwd=ROOT,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        probe.unlink()
    assert result.returncode == 0, result.stdout


def test_the_contents_line_names_each_section_once():
    text = README.read_text()
    contents = text[text.index("Contents:") : text.index("## Five-minute tutorial")]
    links = re.findall(r"\]\(#([^)]+)\)", contents)
    assert len(links) == len(set(links)), links


def readme_property_table(heading: str) -> dict[str, str]:
    text = README.read_text()
    section = text[text.index(heading) :]
    table = section[: section.index("\n\n", section.index("| --- |"))]
    return dict(re.findall(r"^\| `([a-z-]+)` \| ([^|]+) \|", table, re.MULTILINE))


def test_the_property_table_lists_every_property_with_its_default():
    from empycustom.gst.runtime import Gst

    element = Gst.ElementFactory.make("empycustom")
    specs = {
        spec.name: spec for spec in element.list_properties() if spec.name not in {"name", "parent"}
    }
    table = readme_property_table("### Properties")
    assert set(table) == set(specs)
    for name, default in table.items():
        value = specs[name].default_value
        if isinstance(value, bool):
            expected = f"`{str(value).lower()}`"
        elif value is None:
            expected = "none"
        elif isinstance(value, int) and not hasattr(value, "value_nick"):
            expected = f"`{value}`"
        else:
            expected = f"`{value.value_nick}`"
        assert default.strip() == expected, name


def test_json_examples_are_real_output():
    import readme_json

    text = README.read_text()
    blocks = readme_json.readme_blocks(text)
    assert text.count("```json") == len(blocks)  # every JSON example is a generated one
    assert set(blocks) == set(readme_json.EXAMPLES)
    for name, shown in blocks.items():
        made = readme_json.generate(name)
        assert readme_json.without_varying(shown) == readme_json.without_varying(made), (
            f"README's ```json {name} is not what the pipeline prints now; rewrite the examples "
            "with: .venv/bin/python tests/readme_json.py --write"
        )

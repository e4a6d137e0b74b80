"""The README's JSON examples, made by running the pipelines they describe.

Each ```json NAME block of README.md is the real output of EXAMPLES[NAME]; tests/test_readme.py
checks that they still are (timestamps and run ids aside). After a change of the output,
rewrite them (a block that only differs in those is left as it is):

    .venv/bin/python tests/readme_json.py --write
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")  # facedetect's missing cascades

import empycustom  # noqa: E402
from empycustom.examples import example_path  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"
JSON_BLOCK = re.compile(r"^```json (\S+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# What differs from run to run: the wall-clock time, metapublish's random run id.
VARYING = re.compile(r'"(timestamp|run)": "[^"]*"')
SMALL_FRAME = "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=320,height=240"


def _merged_meta(description: str) -> dict[str, Any]:
    from pipeline import run_pipeline

    result = run_pipeline(description)
    assert result.eos and result.signals, result.error_texts
    return result.signals[0]


def _write_library(folder: str, source: str) -> str:
    path = os.path.join(folder, "lib.py")
    Path(path).write_text(source)
    return path


def in_meta_example() -> Any:
    """What a library receives for a frame without objects (its merged meta with no result)."""
    with tempfile.TemporaryDirectory() as folder:
        lib = _write_library(folder, "def process_ip(buffer, in_meta, options, events):\n"
                                     "    return ''\n")  # fmt: skip
        return _merged_meta(f"{SMALL_FRAME} ! empycustom name=e custom-lib={lib} in-place=true ! "
                            "fakesink")  # fmt: skip


def frame_result_example() -> Any:
    return _merged_meta(
        f"{SMALL_FRAME} ! empycustom name=e custom-lib={example_path('average_intensity.py')} "
        "in-place=true ! fakesink"
    )


def _faces() -> str:
    from pipeline import ASTRONAUT_FACES, faces_source

    return faces_source(ASTRONAUT_FACES, 1)


def faces_example() -> Any:
    return _merged_meta(
        f"{_faces()} ! empycustom name=e custom-lib={example_path('average_intensity.py')} "
        "in-place=true labels=background,face ! fakesink"
    )


def chain_object_example() -> Any:
    """The first object as the library of a second element receives it."""
    with tempfile.TemporaryDirectory() as folder:
        seen = os.path.join(folder, "seen.json")
        lib = _write_library(
            folder,
            "import json\n"
            "def process_ip(buffer, in_meta, options, events):\n"
            "    with open(options['seen'], 'w') as out:\n"
            "        json.dump(in_meta['frame'][0]['object'][0], out)\n"
            "    return ''\n",
        )
        _merged_meta(
            f"{_faces()} ! empycustom custom-lib={example_path('average_intensity.py')} "
            f"in-place=true ! empycustom name=e custom-lib={lib} in-place=true "
            f"options={{'seen':'{seen}'}} ! fakesink"
        )
        return json.loads(Path(seen).read_text())


def metapublish_message_example() -> Any:
    """The last message metapublish writes for the README's 3-frame pipeline."""
    from pipeline import run_pipeline

    with tempfile.TemporaryDirectory() as folder:
        result = run_pipeline(
            "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=64,height=48 ! "
            f"empycustom custom-lib={example_path('average_intensity.py')} in-place=true ! "
            f'metapublish broker="file://{folder}/{{source}}.jsonl" source=cam1 ! fakesink'
        )
        assert result.eos, result.error_texts
        lines = Path(folder, "cam1.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


EXAMPLES: dict[str, Callable[[], Any]] = {
    "in_meta": in_meta_example,
    "frame_result": frame_result_example,
    "faces": faces_example,
    "chain_object": chain_object_example,
    "metapublish_message": metapublish_message_example,
}
# Made with opencv's facedetect: its boxes may differ with another OpenCV than Debian 12's.
DETECTOR_EXAMPLES = {"faces", "chain_object"}


def format_json(value: Any, indent: int = 0, width: int = 96) -> str:
    """JSON as the README shows it: a value on one line when it fits; else its items filled
    into lines of at most `width` characters, an item that does not fit broken the same way."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(flat) + indent <= width or not isinstance(value, dict | list) or not value:
        return flat
    if isinstance(value, dict):
        pairs = [(json.dumps(key) + ": ", item) for key, item in value.items()]
        opening, closing = "{", "}"
    else:
        pairs = [("", item) for item in value]
        opening, closing = "[", "]"
    pad = indent + 1
    lines: list[str] = []
    line = ""
    for number, (head, item) in enumerate(pairs):
        tail = closing if number == len(pairs) - 1 else ","
        one = head + json.dumps(item, ensure_ascii=False) + tail
        if line and pad + len(line) + 1 + len(one) <= width:
            line += " " + one
            continue
        if line:
            lines.append(line)
        if pad + len(one) <= width:
            line = one
        else:  # broken over lines of its own
            line = head + format_json(item, pad + len(head), width) + tail
    lines.append(line)
    return opening + ("\n" + " " * pad).join(lines)


def without_varying(text: str) -> str:
    return VARYING.sub(lambda match: f'"{match.group(1)}": "..."', text)


def readme_blocks(text: str) -> dict[str, str]:
    return {match.group(1): match.group(2).rstrip("\n") for match in JSON_BLOCK.finditer(text)}


def generate(name: str) -> str:
    empycustom.register()
    return format_json(EXAMPLES[name]())


def write_readme() -> None:
    text = README.read_text()
    for name, shown in readme_blocks(text).items():
        made = generate(name)
        if without_varying(made) == without_varying(shown):
            continue
        text = re.sub(
            rf"^```json {re.escape(name)}\n.*?^```$", lambda _m, made=made, name=name:
            f"```json {name}\n{made}\n```", text, flags=re.MULTILINE | re.DOTALL,
        )  # fmt: skip
    README.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    write_readme()

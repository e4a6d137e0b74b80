"""The `empycustom` command line."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from typing import Any


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """--workers and --worker-kind: the empycustom element's properties of those names."""
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="the element's workers property: N frames at once (default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--worker-kind", choices=("thread", "process"), default="thread",
        help="the element's worker-kind property (default thread)",
    )  # fmt: skip


def _plugin_path(_args: argparse.Namespace) -> int:
    from empycustom.elements.registration import plugin_path

    print(plugin_path())
    return 0


def _launch(args: argparse.Namespace) -> int:
    from empycustom.cli.launch import LaunchFlags, launch

    if not args.pipeline:
        print("empycustom launch: give a pipeline description", file=sys.stderr)
        return 1
    flags = LaunchFlags(verbose=args.verbose, quiet=args.quiet, messages=args.messages)
    return launch(args.pipeline, flags)


def _demo(args: argparse.Namespace) -> int:
    from empycustom.cli.demo import run_demo

    return run_demo(args)


def _new(args: argparse.Namespace) -> int:
    from empycustom.cli.scaffold import ScaffoldError, write_new_library

    try:
        path = write_new_library(args.name, force=args.force)
    except ScaffoldError as error:
        print(f"empycustom new: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}; try it with: empycustom check {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from empycustom.cli.check import Workers, check_library, format_report

    workers = Workers(args.workers, args.worker_kind, args.batch_size)
    report = check_library(args.library, args.in_place, args.options, args.timeout, workers)
    print(format_report(report))
    return 0 if report.ok else 1


def _add_command(
    commands: Any, name: str, summary: str, description: str, examples: str
) -> argparse.ArgumentParser:
    """A subcommand whose --help shows a description, the defaults and examples."""
    return commands.add_parser(
        name, help=summary, description=description,
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from empycustom import __version__

    parser = argparse.ArgumentParser(
        prog="empycustom",
        description="Custom Python processing inside GStreamer pipelines. "
        "Run `empycustom COMMAND --help` for each command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"empycustom {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    command = _add_command(
        commands, "plugin-path",
        "print the folder to put on GST_PLUGIN_PATH for gst-launch-1.0",
        "Print the folder that gst-launch-1.0 and gst-inspect-1.0 need on GST_PLUGIN_PATH to "
        "find the empycustom, aimeta and perf elements (through GStreamer's Python plugin "
        "loader, which needs this environment's python first on PATH).",
        """
        export GST_PLUGIN_PATH=$(empycustom plugin-path)
        gst-inspect-1.0 empycustom
        """,
    )  # fmt: skip
    command.set_defaults(run=_plugin_path)

    command = _add_command(
        commands, "launch",
        "run a pipeline like gst-launch-1.0, with the empycustom elements",
        "Run a pipeline description like gst-launch-1.0, with this package's elements "
        "registered in the process (no GST_PLUGIN_PATH needed). Ctrl-C sends end-of-stream, "
        "so files are finished properly (as gst-launch-1.0 -e; a second Ctrl-C stops at "
        "once). Prints gst-launch-1.0's status lines on standard output, ending with "
        '"Execution ended after ...". Exit status 0 after end-of-stream, 1 after an error.',
        """
        empycustom launch videotestsrc num-buffers=30 ! video/x-raw,format=RGBA ! \\
          empycustom custom-lib=examples/average_intensity.py in-place=true ! fakesink
        empycustom launch -q -m videotestsrc num-buffers=3 ! fakesink
        """,
    )  # fmt: skip
    command.add_argument(
        "-v", "--verbose", action="store_true",
        help="output status information and property notifications (default: off)",
    )  # fmt: skip
    command.add_argument(
        "-q", "--quiet", action="store_true",
        help="do not print any progress information (default: off)",
    )  # fmt: skip
    command.add_argument(
        "-m", "--messages", action="store_true", help="output messages (default: off)"
    )
    command.add_argument(
        "-e", "--eos-on-shutdown", action="store_true",
        help="force EOS on sources before shutting the pipeline down (always done here)",
    )  # fmt: skip
    command.add_argument("pipeline", nargs=argparse.REMAINDER, help="pipeline description")
    command.set_defaults(run=_launch)

    command = _add_command(
        commands, "new", "write a new custom library from the template",
        "Write a new custom library from the documented template (examples/new_lib.py): "
        "start(), stop(), process_ip() and process() with their arguments explained, and the "
        "commands that try it under the new file's name. An existing file is kept unless "
        "--force is given.",
        """
        empycustom new my_lib.py
        empycustom check my_lib.py --in-place
        """,
    )  # fmt: skip
    command.add_argument("name", metavar="NAME.py", help="path of the file to write")
    command.add_argument(
        "--force", action="store_true", help="replace an existing file (default: refuse)"
    )
    command.set_defaults(run=_new)

    command = _add_command(
        commands, "check",
        "run a custom library in the element on synthetic frames with objects; "
        "exit status 0 only when all is fine",
        "Run a custom library in the real empycustom element (appsrc ! empycustom ! appsink) "
        "on three synthetic 320x240 RGBA frames carrying ROI metas (3 objects, none, 2 at "
        "the frame's edges). Prints each frame's merged meta and every problem: missing "
        "functions, exceptions with their tracebacks, out_meta that cannot be parsed, frames "
        "dropped, failing start() or stop(). Exit status 0 only when all is fine.",
        """
        empycustom check my_lib.py
        empycustom check my_lib.py --in-place --options '{"threshold": 100}'
        """,
    )  # fmt: skip
    command.add_argument("library", metavar="LIB.py", help="custom library to check")
    mode = command.add_mutually_exclusive_group()
    mode.add_argument(
        "--in-place", dest="in_place", action="store_const", const=True, default=None,
        help="check process_ip() only (default: every process function the library has)",
    )  # fmt: skip
    mode.add_argument(
        "--not-in-place", dest="in_place", action="store_const", const=False,
        help="check process() only (default: see --in-place)",
    )  # fmt: skip
    command.add_argument(
        "--options", metavar="JSON", help="the element's options property (default: none)"
    )
    command.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the frames (default 60)"
    )
    add_worker_arguments(command)
    command.add_argument(
        "--batch-size", type=int, default=1, metavar="N",
        help="the element's batch-size property: process_batch() gets N frames (default 1)",
    )  # fmt: skip
    command.set_defaults(run=_check)

    command = _add_command(
        commands, "demo", "run the main job on the bundled default input (make demo)",
        "The main job on a bundled input: a clip made from the bundled photograph of three "
        "faces, panning and zooming -> facedetect -> empycustom (average intensity) -> "
        "empycustom (box and result drawn) -> aimeta -> H.264 in MP4. Shows a progress bar, "
        "then a summary table (frames, objects, fps, time per element, where the video and "
        "the JSON lines are).",
        """
        empycustom demo
        empycustom demo --input my_video.mp4 --lib my_lib.py --output results --print-json
        """,
    )  # fmt: skip
    from empycustom.cli.demo import add_demo_arguments

    add_demo_arguments(command)
    command.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

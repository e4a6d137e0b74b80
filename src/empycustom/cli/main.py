"""The `empycustom` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _plugin_path(_args: argparse.Namespace) -> int:
    from empycustom.elements.registration import plugin_path

    print(plugin_path())
    return 0


def _launch(args: argparse.Namespace) -> int:
    from empycustom.cli.launch import launch

    return launch(args.pipeline)


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
    from empycustom.cli.check import check_library, format_report

    report = check_library(args.library, args.in_place, args.options, args.timeout)
    print(format_report(report))
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="empycustom", description="Custom Python processing inside GStreamer pipelines."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    command = commands.add_parser(
        "plugin-path", help="print the folder to put on GST_PLUGIN_PATH for gst-launch-1.0"
    )
    command.set_defaults(run=_plugin_path)

    command = commands.add_parser(
        "launch", help="run a pipeline like gst-launch-1.0, with the empycustom elements"
    )
    command.add_argument("pipeline", nargs=argparse.REMAINDER, help="pipeline description")
    command.set_defaults(run=_launch)

    command = commands.add_parser("new", help="write a new custom library from the template")
    command.add_argument("name", metavar="NAME.py", help="path of the file to write")
    command.add_argument("--force", action="store_true", help="replace an existing file")
    command.set_defaults(run=_new)

    command = commands.add_parser(
        "check",
        help="run a custom library in the element on synthetic frames with objects; "
        "exit status 0 only when all is fine",
    )
    command.add_argument("library", metavar="LIB.py", help="custom library to check")
    mode = command.add_mutually_exclusive_group()
    mode.add_argument(
        "--in-place", dest="in_place", action="store_const", const=True, default=None,
        help="check process_ip() only (default: every process function the library has)",
    )  # fmt: skip
    mode.add_argument(
        "--not-in-place", dest="in_place", action="store_const", const=False,
        help="check process() only",
    )  # fmt: skip
    command.add_argument("--options", metavar="JSON", help="the element's options property")
    command.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the frames (default 60)"
    )
    command.set_defaults(run=_check)

    command = commands.add_parser("demo", help="run the main job on the bundled default input")
    from empycustom.cli.demo import add_demo_arguments

    add_demo_arguments(command)
    command.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

"""The `empycustom` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _plugin_path(_args: argparse.Namespace) -> int:
    from empycustom.registration import plugin_path

    print(plugin_path())
    return 0


def _launch(args: argparse.Namespace) -> int:
    from empycustom.launch import launch

    return launch(args.pipeline)


def _demo(args: argparse.Namespace) -> int:
    from empycustom.demo import run_demo

    return run_demo(args)


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

    command = commands.add_parser("demo", help="run the main job on the bundled default input")
    from empycustom.demo import add_demo_arguments

    add_demo_arguments(command)
    command.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

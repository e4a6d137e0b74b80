"""`empycustom launch`: gst-launch-1.0 with this package's elements, Ctrl-C ending with EOS.

It takes gst-launch-1.0's everyday flags with the same meaning (-v, -q, -m, -e) and prints the
same status lines, ending with "Execution ended after H:MM:SS.NNNNNNNNN".
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass

from empycustom.elements.perf import format_clock_time
from empycustom.elements.registration import register
from empycustom.gst.messages import error_text
from empycustom.gst.runtime import GLib, Gst


@dataclass(frozen=True)
class LaunchFlags:
    """gst-launch-1.0's -v, -q, -m and -e."""

    verbose: bool = False  # print property changes (deep notify), as -v
    quiet: bool = False  # no status lines, as -q
    messages: bool = False  # print every bus message, as -m (unless quiet)
    eos_on_shutdown: bool = True  # Ctrl-C sends EOS; here also without -e


def message_line(message: Gst.Message) -> str:
    """A bus message as gst-launch-1.0 -m prints it."""
    source = message.src
    kind = Gst.MessageType.get_name(message.type)
    seqnum = message.get_seqnum()
    if isinstance(source, Gst.Element):
        head = f'Got message #{seqnum} from element "{source.get_name()}" ({kind}): '
    elif isinstance(source, Gst.Pad):
        parent = source.get_parent()
        owner = parent.get_name() if parent is not None else ""
        head = f'Got message #{seqnum} from pad "{owner}:{source.get_name()}" ({kind}): '
    elif isinstance(source, Gst.Object):
        head = f'Got message #{seqnum} from object "{source.get_name()}" ({kind}): '
    else:
        head = f"Got message #{seqnum} ({kind}): "
    structure = message.get_structure()
    return head + (structure.to_string() if structure is not None else "no message details")


def property_line(message: Gst.Message) -> str:
    """A property-notify message as gst-launch-1.0 -v prints it: `path: name = value`."""
    obj, name, value = message.parse_property_notify()
    if value is None:
        shown = "(no value)"
    elif isinstance(value, Gst.Caps | Gst.Structure):
        shown = value.to_string()
    else:
        shown = str(value)
    return f"{obj.get_path_string()}: {name} = {shown}"


def run_pipeline_until_done(
    pipeline: Gst.Pipeline, flags: LaunchFlags | None = None, *, status_lines: bool = False
) -> int:
    """Play `pipeline` until EOS or an error; SIGINT/SIGTERM send EOS for a clean shutdown.

    Returns the process exit status: 0 after EOS, 1 after an error. `status_lines` prints
    gst-launch-1.0's status lines on stdout (unless flags.quiet).
    """
    flags = flags or LaunchFlags(quiet=not status_lines)
    loop = GLib.MainLoop()
    status = {"code": 0, "interrupted": False}

    def show(text: str) -> None:
        """A line on stdout; once stdout is closed (piped into `head`), the run ends quietly.
        (SIGPIPE stays ignored: a closed broker socket must not kill the application.)"""
        if status.get("stdout_closed"):
            return
        try:
            print(text, flush=True)
        except BrokenPipeError:
            status["stdout_closed"] = True
            # Python would complain again when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            loop.quit()

    say = (lambda _text: None) if flags.quiet else show

    def on_message(_bus: Gst.Bus, message: Gst.Message) -> bool:
        if flags.messages and not flags.quiet:  # gst-launch-1.0 -q -m prints nothing either
            show(message_line(message))
        if message.type == Gst.MessageType.EOS:
            say(f'Got EOS from element "{message.src.get_name()}".')
            loop.quit()
        elif message.type == Gst.MessageType.ERROR:
            text, debug = error_text(message)
            print(f"ERROR from {message.src.get_name()}: {text}\n{debug}", file=sys.stderr)
            status["code"] = 1
            loop.quit()
        elif message.type == Gst.MessageType.WARNING:
            text, debug = error_text(message)
            print(f"WARNING from {message.src.get_name()}: {text}\n{debug}", file=sys.stderr)
        elif message.type == Gst.MessageType.PROPERTY_NOTIFY and not flags.quiet:
            show(property_line(message))
        return True

    def on_interrupt() -> bool:
        if status["interrupted"] or not flags.eos_on_shutdown:  # a second Ctrl-C: stop now
            loop.quit()
            return False
        status["interrupted"] = True
        print("Interrupt: sending EOS", file=sys.stderr)
        pipeline.send_event(Gst.Event.new_eos())
        return True

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    watch = bus.connect("message", on_message)
    if flags.verbose:
        pipeline.add_property_deep_notify_watch(None, True)
    handlers = [
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, on_interrupt)
        for signum in (signal.SIGINT, signal.SIGTERM)
    ]
    say("Setting pipeline to PLAYING ...")
    started = time.monotonic_ns()
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        # The element that failed posted an error saying why.
        message = bus.pop_filtered(Gst.MessageType.ERROR)
        if message is not None:
            on_message(bus, message)
        print("ERROR: pipeline doesn't want to play.", file=sys.stderr)
        status["code"] = 1
    else:
        loop.run()
    say(f"Execution ended after {format_clock_time(time.monotonic_ns() - started)}")
    for handler in handlers:
        GLib.source_remove(handler)
    bus.disconnect(watch)
    bus.remove_signal_watch()
    say("Setting pipeline to NULL ...")
    pipeline.set_state(Gst.State.NULL)
    say("Freeing pipeline ...")
    return status["code"]


def launch(arguments: list[str], flags: LaunchFlags | None = None) -> int:
    """Parse `arguments` like gst-launch-1.0 does and run the pipeline."""
    if any(argument.startswith("facedetect") for argument in arguments):
        # facedetect loads cascades OpenCV 4 no longer ships as soon as it is created (see
        # the README's "A pipeline with a real detector"); OpenCV logs an error for each.
        os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
    flags = flags or LaunchFlags()
    register()
    try:
        pipeline = Gst.parse_launchv(arguments)
    except GLib.Error as error:
        print(f"ERROR: pipeline could not be constructed: {error.message}.", file=sys.stderr)
        return 1
    if not isinstance(pipeline, Gst.Pipeline):
        wrapper = Gst.Pipeline.new()
        wrapper.add(pipeline)
        pipeline = wrapper
    return run_pipeline_until_done(pipeline, flags, status_lines=True)

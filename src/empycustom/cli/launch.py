"""`empycustom launch`: gst-launch-1.0 with this package's elements, Ctrl-C ending with EOS."""

from __future__ import annotations

import signal
import sys

from empycustom.elements.registration import register
from empycustom.gst.messages import error_text
from empycustom.gst.runtime import GLib, Gst


def run_pipeline_until_done(pipeline: Gst.Pipeline, *, verbose: bool = True) -> int:
    """Play `pipeline` until EOS or an error; SIGINT/SIGTERM send EOS for a clean shutdown.

    Returns the process exit status: 0 after EOS, 1 after an error.
    """
    loop = GLib.MainLoop()
    status = {"code": 0, "interrupted": False}

    def on_message(_bus: Gst.Bus, message: Gst.Message) -> bool:
        if message.type == Gst.MessageType.EOS:
            loop.quit()
        elif message.type == Gst.MessageType.ERROR:
            text, debug = error_text(message)
            print(f"ERROR from {message.src.get_name()}: {text}\n{debug}", file=sys.stderr)
            status["code"] = 1
            loop.quit()
        elif message.type == Gst.MessageType.WARNING:
            text, debug = error_text(message)
            print(f"WARNING from {message.src.get_name()}: {text}\n{debug}", file=sys.stderr)
        return True

    def on_interrupt() -> bool:
        if status["interrupted"]:  # second Ctrl-C: stop without waiting for EOS
            loop.quit()
            return False
        status["interrupted"] = True
        if verbose:
            print("Interrupt: sending EOS", file=sys.stderr)
        pipeline.send_event(Gst.Event.new_eos())
        return True

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    watch = bus.connect("message", on_message)
    handlers = [
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, on_interrupt)
        for signum in (signal.SIGINT, signal.SIGTERM)
    ]
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        # The element that failed posted an error saying why.
        message = bus.pop_filtered(Gst.MessageType.ERROR)
        if message is not None:
            on_message(bus, message)
        status["code"] = 1
    else:
        loop.run()
    for handler in handlers:
        GLib.source_remove(handler)
    bus.disconnect(watch)
    bus.remove_signal_watch()
    pipeline.set_state(Gst.State.NULL)
    return status["code"]


def launch(arguments: list[str]) -> int:
    """Parse `arguments` like gst-launch-1.0 does and run the pipeline."""
    register()
    try:
        pipeline = Gst.parse_launchv(arguments)
    except GLib.Error as error:
        print(f"ERROR: pipeline could not be constructed: {error.message}", file=sys.stderr)
        return 1
    if not isinstance(pipeline, Gst.Pipeline):
        wrapper = Gst.Pipeline.new()
        wrapper.add(pipeline)
        pipeline = wrapper
    return run_pipeline_until_done(pipeline)

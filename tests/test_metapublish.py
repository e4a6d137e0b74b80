"""`metapublish`: each frame's merged meta to MQTT, Redis Streams or a file, at least once,
nothing lost while the broker is away. Real mosquitto and redis-server processes on free ports,
real pipelines; the rules (URIs, names, the outbox) also as plain data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from brokers import PASSWORD, Mosquitto, RedisServer, distinct, free_port, make_certificates
from pipeline import ASTRONAUT_FACES, faces_source, feed_appsrc, gst_environment

from empycustom.gst.runtime import Gst
from empycustom.meta.custom_meta import write_meta_json
from empycustom.publish.outbox import Outbox, OutboxInUse
from empycustom.publish.template import DestinationTemplate, TemplateError
from empycustom.publish.uri import BrokerURIError, parse_broker_uri

FRAME_LIB = """
def process_ip(buffer, in_meta, options, events):
    return {"n": in_meta["frame"][0]["frame_num"]}
"""


def source(frames: int, live: bool = False) -> str:
    rate = "is-live=true" if live else ""
    return (
        f"videotestsrc num-buffers={frames} {rate} ! "
        "video/x-raw,width=32,height=24,framerate=100/1"
    )


@pytest.fixture(params=["mqtt", "redis"])
def broker(request, tmp_path):
    """A running broker of each kind; stopped at the end of the test."""
    server = (Mosquitto if request.param == "mqtt" else RedisServer)(tmp_path / "broker")
    server.start()
    yield server
    server.stop()


def publish(pipeline, lib, frames, properties, *, live=False, timeout=60, **kwargs):
    return pipeline(
        f"{source(frames, live)} ! empycustom custom-lib={lib} in-place=true ! "
        f"metapublish name=m {properties} ! appsink name=sink",
        timeout=timeout,
        **kwargs,
    )


def frame_numbers(messages) -> list[int]:
    return [frame_num for _source, _run, frame_num in distinct(messages)]


# -- rules on plain data ---------------------------------------------------------------------
def test_broker_uris() -> None:
    uri = parse_broker_uri("mqtt://cam:p%40ss@broker.local/cameras/{source}/meta")
    assert (uri.scheme, uri.host, uri.port, uri.username, uri.password) == (
        "mqtt", "broker.local", 1883, "cam", "p@ss"
    )
    assert uri.destination == "cameras/{source}/meta"
    assert "p@ss" not in uri.redacted() and "***" in uri.redacted()
    assert parse_broker_uri("mqtts://h/t").port == 8883
    redis_uri = parse_broker_uri("redis://:pw@10.0.0.2:6380/frames")
    assert (redis_uri.port, redis_uri.username, redis_uri.password) == (6380, None, "pw")
    assert redis_uri.destination == "frames"
    assert parse_broker_uri("file:///tmp/meta.jsonl").destination == "/tmp/meta.jsonl"
    for bad, says in [
        ("amqp://h/q", "unknown scheme"),
        ("mqtt://h", "no topic"),
        ("redis://h:99999/s", "port"),
        ("mqtt://h/a/#", "wildcard"),
        ("file://host/x.jsonl", "no host"),
        ("broker.local", "not a URI"),
    ]:
        with pytest.raises(BrokerURIError, match=says):
            parse_broker_uri(bad)
    with pytest.raises(BrokerURIError) as raised:
        parse_broker_uri("mqtt://u:hunter2@h:x/t")
    assert "hunter2" not in str(raised.value)


def test_destination_templates() -> None:
    assert DestinationTemplate("cameras/{source}/meta", "cam1").constant == "cameras/cam1/meta"
    per_frame = DestinationTemplate("{source}/{format}/{frame_num}", "c")
    assert per_frame.needs_frame
    assert per_frame.format(7, {"format": "RGBA"}) == "c/RGBA/7"
    with pytest.raises(TemplateError, match="unknown field '{camera}'"):
        DestinationTemplate("x/{camera}", "c")
    with pytest.raises(TemplateError):
        DestinationTemplate("x/{source", "c")


def test_outbox_keeps_order_across_reopening_and_drops_oldest_when_full(tmp_path) -> None:
    folder = tmp_path / "outbox"
    outbox = Outbox(folder, limit_bytes=1 << 20)
    assert outbox.append([b"t\tm%d" % i for i in range(100)]) == 0
    assert [seq for seq, _ in outbox.read(0, 10)] == list(range(10))
    assert outbox.read(95, 10) == [(i, b"t\tm%d" % i) for i in range(95, 100)]
    outbox.acknowledge(40)
    outbox.close()
    # A record cut short by a crash is discarded; the next start continues after the last whole one.
    with open(sorted(folder.glob("*.jsonl"))[-1], "ab") as segment:
        segment.write(b"t\tpartial")
    reopened = Outbox(folder, limit_bytes=1 << 20)
    assert (reopened.first, reopened.end, len(reopened)) == (40, 100, 60)
    assert reopened.read(0, 1) == [(40, b"t\tm40")]
    reopened.acknowledge(100)
    assert len(reopened) == 0 and not list(folder.glob("*.jsonl"))
    reopened.append([b"t\tnext"])
    assert reopened.read(0, 5) == [(100, b"t\tnext")]

    with pytest.raises(OutboxInUse, match="in use"):
        Outbox(folder, limit_bytes=1 << 20)  # while `reopened` holds it
    reopened.close()
    Outbox(folder, limit_bytes=1 << 20).close()  # free again

    small = Outbox(tmp_path / "small", limit_bytes=8192)  # segments of 4 KiB
    record = b"t\t" + b"x" * 98
    dropped = sum(small.append([record]) for _ in range(1000))
    assert dropped > 0 and small.dropped == dropped
    assert len(small) + dropped == 1000
    assert small.size <= 8192 + 4096
    assert small.end == 1000 and small.first == dropped  # the newest are kept, in order
    small.close()


# -- file:// and the per-frame options --------------------------------------------------------
def test_file_uri_messages_carry_the_frame_identity(pipeline, write_library, tmp_path) -> None:
    lib = write_library(FRAME_LIB)
    result = publish(
        pipeline, lib, 10, f'broker="file://{tmp_path}/{{source}}.jsonl" source=cam7'
    )
    assert result.eos, result.error_texts
    lines = [json.loads(line) for line in (tmp_path / "cam7.jsonl").read_text().splitlines()]
    assert [m["frame_num"] for m in lines] == list(range(10))
    assert [m["pts"] for m in lines] == [frame.pts for frame in result.frames]
    assert {m["source"] for m in lines} == {"cam7"} and len({m["run"] for m in lines}) == 1
    assert [m["meta"] for m in lines] == [frame.meta for frame in result.frames]
    element = result.pipeline.get_by_name("m")
    assert (element.get_property("delivered"), element.get_property("pending")) == (10, 0)


def test_interval_skip_empty_and_frames_without_meta(pipeline, write_library, tmp_path) -> None:
    lib = write_library(FRAME_LIB)
    out = tmp_path / "every3.jsonl"
    result = publish(pipeline, lib, 10, f"broker=file://{out} publish-interval=3")
    assert result.eos, result.error_texts
    assert [json.loads(line)["frame_num"] for line in out.read_text().splitlines()] == [0, 3, 6, 9]
    empty = tmp_path / "empty.jsonl"
    result = publish(pipeline, lib, 5, f"broker=file://{empty} skip-empty=true")
    assert result.eos, result.error_texts
    assert not empty.exists()  # videotestsrc frames have no objects: nothing written
    faces = tmp_path / "faces.jsonl"
    result = pipeline(
        f"{faces_source(ASTRONAUT_FACES, 2)} ! empycustom custom-lib={lib} in-place=true ! "
        f"metapublish broker=file://{faces} skip-empty=true ! fakesink"
    )
    assert result.eos, result.error_texts
    published = [json.loads(line) for line in faces.read_text().splitlines()]
    assert [len(m["meta"]["frame"][0]["object"]) for m in published] == [3, 3]
    plain = tmp_path / "plain.jsonl"
    result = pipeline(f"{source(5)} ! metapublish broker=file://{plain} ! fakesink")
    assert result.eos and not plain.exists()  # no empycustom upstream: nothing to publish


def test_one_outbox_folder_per_element(pipeline, write_library, tmp_path) -> None:
    lib = write_library(FRAME_LIB)
    outbox = tmp_path / "shared"
    result = pipeline(
        f"{source(5)} ! empycustom custom-lib={lib} in-place=true ! "
        f"metapublish broker=file://{tmp_path}/a.jsonl outbox={outbox} ! "
        f"metapublish broker=file://{tmp_path}/b.jsonl outbox={outbox} ! fakesink",
        timeout=10,
    )
    assert not result.eos
    assert "(property outbox): in use by another outbox" in result.error_texts


def test_unusable_properties_are_errors_naming_them(pipeline, tmp_path) -> None:
    for properties, says in [
        ("", "broker property"),
        ("broker=amqp://h/q", "unusable broker property: unknown scheme 'amqp'"),
        ('broker="mqtt://h/{camera}"', "unknown field '{camera}'"),
        (f"broker=mqtts://h/t ca-file={tmp_path}/none.pem", "ca-file property names no file"),
    ]:
        result = pipeline(f"{source(1)} ! metapublish {properties} ! fakesink", timeout=10)
        assert not result.eos and says in result.error_texts, properties


# -- real brokers -----------------------------------------------------------------------------
def test_ten_thousand_frames_all_received(pipeline, write_library, broker, report_figure) -> None:
    lib = write_library(FRAME_LIB)
    consumer = broker.consumer("cameras/cam1/meta")
    try:
        started = time.monotonic()
        result = publish(
            pipeline, lib, 10_000,
            f'broker="{broker.uri("cameras/{source}/meta")}" source=cam1 stop-timeout=60',
            timeout=120,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        assert result.eos, result.error_texts
        assert result.warnings == []
        messages = consumer.received(10_000)
    finally:
        consumer.close()
    assert frame_numbers(messages) == list(range(10_000))
    assert result.pipeline.get_by_name("m").get_property("pending") == 0
    report_figure(f"metapublish {broker.kind}: 10,000 frames published and received in "
                  f"{elapsed:.1f} s ({len(messages) - 10_000} duplicates)")  # fmt: skip


def test_broker_killed_and_back_5_s_later(pipeline, write_library, broker, report_figure) -> None:
    """A live 100 fps stream of 900 frames; the broker is stopped at frame 150 and started
    again 5 s later. Every frame arrives, in order, and the stream never slowed down."""
    lib = write_library(FRAME_LIB)
    consumer = broker.consumer("meta")
    arrivals: list[float] = []
    outage: list[float] = []

    def kill_and_restart() -> None:
        outage.append(time.monotonic())
        broker.stop()
        time.sleep(5)
        broker.start()
        outage.append(time.monotonic())

    def on_buffer(_pipeline, count: int) -> None:
        arrivals.append(time.monotonic())
        if count == 150:
            threading.Thread(target=kill_and_restart).start()

    try:
        result = publish(
            pipeline, lib, 900,
            f"broker={broker.uri('meta')} reconnect-max=0.5 stop-timeout=30",
            live=True, timeout=60, on_buffer=on_buffer,
        )  # fmt: skip
        assert result.eos, result.error_texts
        messages = consumer.received(900)
    finally:
        consumer.close()
    assert len(outage) == 2, "the broker was not restarted during the stream"
    assert "lost the connection" in result.warning_texts or "connection refused" in (
        result.warning_texts
    )
    assert frame_numbers(messages) == list(range(900))
    during = [t for t in arrivals if outage[0] <= t <= outage[1]]
    expected = (outage[1] - outage[0]) * 100
    largest_gap = max(b - a for a, b in zip(arrivals, arrivals[1:], strict=False))
    assert len(during) >= 0.85 * expected, (len(during), expected)
    assert largest_gap < 1.0  # 10 ms expected; generous for a loaded machine
    report_figure(
        f"metapublish {broker.kind}: broker down {outage[1] - outage[0]:.1f} s, {len(during)} "
        f"frames passed meanwhile (100 fps: {expected:.0f}), largest gap between frames "
        f"{largest_gap * 1000:.0f} ms, {len(messages) - 900} duplicates, all 900 received"
    )


def test_stopped_during_an_outage_then_restarted(pipeline, write_library, broker, tmp_path):
    lib = write_library(FRAME_LIB)
    outbox = tmp_path / "outbox"
    broker.stop()
    first = publish(  # live: 3 s, long enough for connection attempts to fail and be reported
        pipeline, lib, 300, f"broker={broker.uri('meta')} outbox={outbox} stop-timeout=0",
        live=True,
    )
    assert first.eos, first.error_texts
    assert "nothing accepts connections" in first.warning_texts
    assert "property broker" in first.warning_texts
    assert first.pipeline.get_by_name("m").get_property("pending") == 300
    broker.start()
    consumer = broker.consumer("meta")
    try:
        second = publish(pipeline, lib, 200, f"broker={broker.uri('meta')} outbox={outbox}")
        assert second.eos, second.error_texts
        messages = consumer.received(500)
    finally:
        consumer.close()
    runs = list(dict.fromkeys(m["run"] for m in messages))
    assert len(runs) == 2
    assert [(runs.index(run), n) for _s, run, n in distinct(messages)] == [
        (0, n) for n in range(300)
    ] + [(1, n) for n in range(200)]  # the first run's frames first, all of them
    assert not list(outbox.glob("*.jsonl"))


def test_outbox_full_drops_the_oldest(pipeline, write_library, broker, tmp_path) -> None:
    lib = write_library(FRAME_LIB)
    outbox = tmp_path / "outbox"
    broker.stop()
    first = publish(
        pipeline, lib, 1000,
        f"broker={broker.uri('meta')} outbox={outbox} outbox-limit=32768 stop-timeout=0",
    )  # fmt: skip
    assert first.eos, first.error_texts
    assert "outbox is full (outbox-limit 32768 bytes)" in first.warning_texts
    element = first.pipeline.get_by_name("m")
    dropped, pending = element.get_property("dropped"), element.get_property("pending")
    assert dropped > 0 and dropped + pending == 1000
    broker.start()
    consumer = broker.consumer("meta")
    try:
        assert publish(pipeline, lib, 1, f"broker={broker.uri('meta')} outbox={outbox}").eos
        messages = consumer.received(pending + 1)
    finally:
        consumer.close()
    assert frame_numbers(messages)[:pending] == list(range(dropped, 1000))  # the newest kept


def test_wrong_password(pipeline, write_library, tmp_path) -> None:
    lib = write_library(FRAME_LIB)
    for server in (Mosquitto(tmp_path / "mqtt", password=PASSWORD),
                   RedisServer(tmp_path / "redis", password=PASSWORD)):  # fmt: skip
        server.start()
        try:
            user = "camera" if server.kind == "mqtt" else ""
            good = publish(
                pipeline, lib, 20,
                f"broker={server.uri('meta')} password={PASSWORD}", timeout=30,
            ) if server.kind == "redis" else None  # fmt: skip
            if good is not None:
                assert good.eos and good.pipeline.get_by_name("m").get_property("delivered") == 20
            started = time.monotonic()
            result = publish(
                pipeline, lib, 2000,
                f"broker={server.uri('meta', credentials=f'{user}:wrong-Pa55@')}", timeout=30
            )  # fmt: skip
            assert time.monotonic() - started < 20, "no hang"
            texts = result.error_texts + result.warning_texts
            assert "property broker" in result.error_texts, texts
            assert "wrong-Pa55" not in texts and PASSWORD not in texts
            in_property = publish(
                pipeline, lib, 2000, f"broker={server.uri('meta')} password=also-wrong"
            )
            assert "property password" in in_property.error_texts
            assert "also-wrong" not in in_property.error_texts + in_property.warning_texts
        finally:
            server.stop()


def test_mqtt_password_accepted(pipeline, write_library, tmp_path) -> None:
    lib = write_library(FRAME_LIB)
    server = Mosquitto(tmp_path / "mqtt", password=PASSWORD)
    server.start()
    try:
        result = publish(
            pipeline, lib, 20, f"broker={server.uri('meta', credentials='camera@')} "
            f"password={PASSWORD}",
        )  # fmt: skip
        assert result.eos, result.error_texts
        assert result.pipeline.get_by_name("m").get_property("delivered") == 20
    finally:
        server.stop()


def test_mqtts_with_a_test_authority_and_client_certificate(pipeline, write_library, tmp_path):
    lib = write_library(FRAME_LIB)
    certs = make_certificates(tmp_path / "certs")
    server = Mosquitto(tmp_path / "mqtt", tls={
        "cafile": certs["ca.crt"], "certfile": certs["server.crt"],
        "keyfile": certs["server.key"], "require_certificate": "true",
    })  # fmt: skip
    server.start()
    consumer = None
    try:
        consumer = server.consumer("secure")
        client = f"cert-file={certs['client.crt']} key-file={certs['client.key']}"
        result = publish(
            pipeline, lib, 50,
            f"broker={server.uri('secure', 'mqtts')} ca-file={certs['ca.crt']} {client}",
        )  # fmt: skip
        assert result.eos, result.error_texts
        assert frame_numbers(consumer.received(50)) == list(range(50))
        started = time.monotonic()
        refused = publish(
            pipeline, lib, 50,
            f"broker={server.uri('secure', 'mqtts')} ca-file={certs['other-ca.crt']} {client}",
            timeout=30,
        )  # fmt: skip
        assert time.monotonic() - started < 20
        assert "property ca-file" in refused.error_texts
        assert "certificate was not accepted" in refused.error_texts
    finally:
        if consumer is not None:
            consumer.close()
        server.stop()


def test_unknown_host_is_a_warning_and_never_a_hang(pipeline, write_library) -> None:
    lib = write_library(FRAME_LIB)
    started = time.monotonic()
    result = publish(
        pipeline, lib, 100, "broker=mqtt://no-such-host.invalid/meta stop-timeout=0",
        live=True, timeout=30,
    )
    assert result.eos, result.error_texts
    assert time.monotonic() - started < 20
    assert "unknown host 'no-such-host.invalid'" in result.warning_texts
    assert "property broker" in result.warning_texts
    assert "were not delivered and are lost: set the outbox property" in result.warning_texts


def test_refused_port_costs_the_pipeline_nothing(pipeline, write_library, tmp_path) -> None:
    """With no broker at all, frames still flow at the live rate."""
    lib = write_library(FRAME_LIB)
    arrivals: list[float] = []
    result = publish(
        pipeline, lib, 200,
        f"broker=redis://127.0.0.1:{free_port()}/s outbox={tmp_path / 'o'} stop-timeout=0",
        live=True, on_buffer=lambda _p, _n: arrivals.append(time.monotonic()),
    )  # fmt: skip
    assert result.eos, result.error_texts
    assert arrivals[-1] - arrivals[0] < 1.99 * 1.2  # 199 intervals of 10 ms, at the live rate
    assert result.pipeline.get_by_name("m").get_property("pending") == 200


def test_gst_inspect_and_gst_launch(gst_launch, write_library, tmp_path) -> None:
    info = subprocess.run(
        ["gst-inspect-1.0", "metapublish"], capture_output=True, text=True,
        env=gst_environment(), timeout=60,
    )  # fmt: skip
    assert info.returncode == 0, info.stderr
    for name in ("broker", "outbox", "outbox-limit", "skip-empty", "publish-interval", "password",
                 "ca-file", "cert-file", "key-file", "delivered", "dropped"):  # fmt: skip
        assert f"  {name} " in info.stdout, name
    lib = write_library(FRAME_LIB)
    out = tmp_path / "launch.jsonl"
    ran = gst_launch(["-q", *source(5).split(), "!", "empycustom", f"custom-lib={lib}",
                      "in-place=true", "!", "metapublish", f"broker=file://{out}", "!",
                      "fakesink"])  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert [json.loads(line)["frame_num"] for line in out.read_text().splitlines()] == [
        0, 1, 2, 3, 4
    ]


def test_source_defaults_to_the_element_name(pipeline, write_library, tmp_path: Path) -> None:
    lib = write_library(FRAME_LIB)
    result = publish(pipeline, lib, 2, f'broker="file://{tmp_path}/{{source}}.jsonl"')
    assert result.eos, result.error_texts
    assert json.loads((tmp_path / "m.jsonl").read_text().splitlines()[0])["source"] == "m"


def test_benchmark_measures_every_case() -> None:
    """`make bench`'s metapublish part, in its --quick form: every case runs and reports."""
    bench = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_metapublish.py"
    completed = subprocess.run(
        [sys.executable, str(bench), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = {
        line.split("|")[1].strip(): line.split("|")[2:6]
        for line in completed.stdout.splitlines()
        if line.startswith("| ") and not line.startswith(("| case", "| ---"))
    }
    assert set(rows) == {"baseline", "file", "mqtt-up", "mqtt-down", "mqtt-slow", "redis-up",
                         "redis-down", "redis-slow"}  # fmt: skip
    for cells in rows.values():
        assert float(cells[0]) > 0 and float(cells[2]) > 0


def test_no_secret_in_the_debug_log(gst_launch, write_library, tmp_path) -> None:
    """gst-launch-1.0 with the element's debug log at its most verbose, a wrong password in the
    URI and a right one in the property: neither appears anywhere in the output."""
    lib = write_library(FRAME_LIB)
    server = Mosquitto(tmp_path / "mqtt", password=PASSWORD)
    server.start()
    try:
        for credentials, extra in [
            ("camera:Wr0ng-in-uri@", []),
            ("camera@", [f"password={PASSWORD}"]),
        ]:
            ran = gst_launch(
                ["-q", *source(30).split(), "!", "empycustom", f"custom-lib={lib}",
                 "in-place=true", "!", "metapublish",
                 f"broker={server.uri('meta', credentials=credentials)}", *extra, "!",
                 "fakesink"],
                env={"GST_DEBUG": "metapublish:9,python:9"},
            )  # fmt: skip
            output = ran.stdout + ran.stderr
            assert "metapublish" in output  # the log was on
            assert "Wr0ng-in-uri" not in output and PASSWORD not in output
            assert ("camera:***@127.0.0.1" if not extra else "camera@127.0.0.1") in output
    finally:
        server.stop()


def test_many_open_files(pipeline, write_library, broker) -> None:
    """An application with more than 1023 descriptors open: the broker's socket gets a number
    that select() cannot watch (paho's own loop would take it for a lost connection)."""
    lib = write_library(FRAME_LIB)
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        result = publish(pipeline, lib, 300, f"broker={broker.uri('meta')}")
    finally:
        for descriptor in held:
            os.close(descriptor)
    assert result.eos, result.error_texts
    assert result.warnings == []
    assert result.pipeline.get_by_name("m").get_property("delivered") == 300


def test_redis_refusing_the_stream_is_an_error(pipeline, write_library, tmp_path) -> None:
    """A key of another type under the stream's name: Redis answers XADD with an error, which
    is posted (naming broker) and retried with backoff, the messages kept."""
    import redis

    lib = write_library(FRAME_LIB)
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        redis.Redis(port=server.port).set("meta", "not a stream")
        result = publish(
            pipeline, lib, 20,
            f"broker={server.uri('meta')} outbox={tmp_path / 'o'} stop-timeout=0", live=True,
        )  # fmt: skip
        assert "property broker" in result.error_texts
        assert "Redis refused XADD to 'meta': WRONGTYPE" in result.error_texts
        element = result.pipeline.get_by_name("m")  # the error stopped the pipeline
        assert element.get_property("delivered") == 0 and element.get_property("pending") >= 1
        assert list((tmp_path / "o").glob("*.jsonl")), "the messages are kept in the outbox"
    finally:
        server.stop()


def test_meta_written_by_hand(pipeline, tmp_path) -> None:
    """Meta another producer attached: pretty-printed JSON is published as one line; text that
    is not JSON at all is skipped (a debug warning), the stream goes on."""
    buffers = []
    for text in ('{\n  "frame": [{"object": [], "note": "pretty"}]\n}', "{not json\n", '{"a": 1}'):
        buffer = Gst.Buffer.new_wrapped(bytes(32 * 24 * 4))
        write_meta_json(buffer, text)
        buffers.append(buffer)
    out = tmp_path / "hand.jsonl"
    caps = "video/x-raw,format=RGBA,width=32,height=24,framerate=30/1"
    result = pipeline(
        f"appsrc name=src ! metapublish broker=file://{out} ! fakesink",
        configure=lambda p: feed_appsrc(p, caps, buffers),
    )
    assert result.eos, result.error_texts  # all three frames passed
    published = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(m["frame_num"], m["meta"]) for m in published] == [
        (0, {"frame": [{"object": [], "note": "pretty"}]}),
        (2, {"a": 1}),
    ]


def test_gst_launch_through_a_broker_outage(gst_launch, write_library, broker) -> None:
    """gst-launch-1.0 with the plugin loader (a process that does not ignore SIGPIPE, as Python
    does): the broker goes away for 1.5 s, the process goes on and every frame arrives."""
    lib = write_library(FRAME_LIB)
    consumer = broker.consumer("meta")
    outage = threading.Timer(2.0, broker.stop)
    back = threading.Timer(3.5, broker.start)
    try:
        outage.start()
        back.start()
        ran = gst_launch(
            [*source(400, live=True).split(), "!", "empycustom", f"custom-lib={lib}",
             "in-place=true", "!", "metapublish", f"broker={broker.uri('meta')}",
             "reconnect-max=0.5", "stop-timeout=20", "!", "fakesink"],
        )  # fmt: skip
        back.join()
        assert ran.returncode == 0, ran.stderr[-2000:]
        assert frame_numbers(consumer.received(400)) == list(range(400))
    finally:
        back.join()
        consumer.close()

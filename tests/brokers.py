"""Real brokers for the tests: Debian's mosquitto and redis-server on free 127.0.0.1 ports,
started and killed by the tests (nothing is assumed running), and consumers that read back
what they received."""

from __future__ import annotations

import atexit
import getpass
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PASSWORD = "s3cret-Pa55"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def require(program: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(f"{program} is not installed: run scripts/setup.sh")
    return path


class BrokerProcess:
    """A broker process on `port` with its data in `folder`; stop() ends it (SIGTERM, the way
    an administrator or a crash-restart supervisor does), start() brings it back."""

    kind = ""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        log = open(self.folder / f"{self.kind}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=log, cwd=self.folder)
        atexit.register(self.process.kill)  # never left running after the tests, whatever failed
        log.close()
        wait_for_port(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class Mosquitto(BrokerProcess):
    kind = "mqtt"

    def __init__(self, folder: Path, *, password: str | None = None, tls: dict | None = None):
        super().__init__(folder)
        self.password = password
        self.tls = tls  # {"cafile", "certfile", "keyfile", "require_certificate"}
        self.plain_port = free_port() if tls else self.port  # the consumer's listener
        self.user = "camera" if password else None

    def command(self) -> list[str]:
        lines = [
            f"user {getpass.getuser()}",  # as root it would switch to "mosquitto": no test files
            "per_listener_settings true",
            "persistence true",
            f"persistence_location {self.folder}/",
            "max_queued_messages 0",  # keep every message for an offline consumer
            "max_inflight_messages 0",
            "log_type error",
            "log_type warning",
            f"listener {self.port} 127.0.0.1",
        ]
        if self.password:
            passwords = self.folder / "passwords"
            if not passwords.exists():
                subprocess.run(
                    [require("mosquitto_passwd"), "-b", "-c", str(passwords), self.user,
                     self.password], check=True, capture_output=True,
                )  # fmt: skip
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            lines += [f"{key} {value}" for key, value in self.tls.items()]
            lines += [f"listener {self.plain_port} 127.0.0.1", "allow_anonymous true"]
        config = self.folder / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return [require("mosquitto"), "-c", str(config)]

    def start(self) -> None:
        super().start()
        wait_for_port(self.plain_port)

    def uri(self, topic: str, scheme: str = "mqtt", credentials: str = "") -> str:
        return f"{scheme}://{credentials}127.0.0.1:{self.port}/{topic}"

    def consumer(self, topic: str) -> MqttConsumer:
        return MqttConsumer(self.plain_port, topic)


class RedisServer(BrokerProcess):
    kind = "redis"

    def __init__(self, folder: Path, *, password: str | None = None) -> None:
        super().__init__(folder)
        self.password = password

    def command(self) -> list[str]:
        command = [
            require("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.folder), "--save", "", "--appendonly", "yes",
            "--protected-mode", "no",
        ]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        return command

    def uri(self, stream: str, credentials: str = "") -> str:
        return f"redis://{credentials}127.0.0.1:{self.port}/{stream}"

    def consumer(self, stream: str) -> RedisConsumer:
        return RedisConsumer(self, stream)


# The MQTT consumer runs in a process of its own: the test process may hold more than 1023
# descriptors, and paho's own loop (select()) cannot watch a socket above that.
MQTT_CONSUMER = r"""
import sys
import paho.mqtt.client as mqtt
port, topic, received, ready, client_id = sys.argv[1:]
output = open(received, "ab", buffering=0)
client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                     client_id=client_id, clean_session=False)
client.reconnect_delay_set(0.1, 0.5)
client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
client.on_subscribe = lambda *_: open(ready, "w").close()
client.on_message = lambda _c, _u, message: output.write(message.payload + b"\n")
client.connect("127.0.0.1", int(port))
client.loop_forever(retry_first_connection=True)
"""


class MqttConsumer:
    """Subscribes with QoS 1 and a persistent session (the broker keeps what arrives while
    this consumer is away, e.g. while the broker itself restarts)."""

    def __init__(self, port: int, topic: str) -> None:
        folder = Path(tempfile.mkdtemp(prefix="mqtt-consumer-"))
        self._received, ready = folder / "received.jsonl", folder / "subscribed"
        client_id = f"test-consumer-{uuid.uuid4().hex[:8]}"
        self._process = subprocess.Popen(
            [sys.executable, "-c", MQTT_CONSUMER, str(port), topic, str(self._received),
             str(ready), client_id],
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not ready.exists():
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.close()
                raise AssertionError("the test consumer could not subscribe")
            time.sleep(0.05)

    def _messages(self) -> list[dict[str, Any]]:
        if not self._received.exists():
            return []
        lines = self._received.read_bytes().split(b"\n")[:-1]  # the last line may be partial
        return [json.loads(line) for line in lines]

    def received(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The messages, once `count` distinct frames have arrived (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(distinct(messages := self._messages())) < count:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return messages

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(10)


class RedisConsumer:
    def __init__(self, server: RedisServer, stream: str) -> None:
        self.server = server
        self.stream = stream

    def received(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        import redis

        client = redis.Redis(port=self.server.port, password=self.server.password)
        deadline = time.monotonic() + timeout
        try:
            while True:
                entries = client.xrange(self.stream)
                messages = [json.loads(fields[b"json"]) for _id, fields in entries]
                if len(distinct(messages)) >= count or time.monotonic() > deadline:
                    return messages
                time.sleep(0.05)
        finally:
            client.close()

    def close(self) -> None:
        pass


def distinct(messages: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """The frames in the order of their first arrival, duplicates dropped as the README tells
    consumers to: by (source, run, frame_num)."""
    seen: dict[tuple[str, str, int], None] = {}
    for message in messages:
        seen.setdefault((message["source"], message["run"], message["frame_num"]), None)
    return list(seen)


def make_certificates(folder: Path) -> dict[str, Path]:
    """A test authority, a server certificate for 127.0.0.1 and a client certificate, made with
    the openssl command; and a second authority that signed nothing of these."""
    folder.mkdir(parents=True, exist_ok=True)
    openssl = require("openssl")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*arguments: str) -> None:
        subprocess.run([openssl, *arguments], check=True, capture_output=True, cwd=folder)

    for name in ("ca", "other-ca"):
        run("req", "-x509", *key, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN=empycustom test {name}")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        run("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
            "-extfile", "san.ext")  # fmt: skip
    names = ("ca.crt", "other-ca.crt", "server.crt", "server.key", "client.crt", "client.key")
    return {name: folder / name for name in names}

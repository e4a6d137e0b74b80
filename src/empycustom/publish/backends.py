"""What the publisher needs from a broker, and the backends: file, MQTT, Redis Streams.

A backend connects, sends records tagged with their sequence numbers and reports which were
acknowledged. It runs in the publisher's sending thread only. A new broker (Kafka, ...) is one
more class here and one more entry in `create_backend`; the element does not change.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from empycustom.publish.file import JsonLinesFile
from empycustom.publish.uri import BrokerURI

CONNECT_TIMEOUT = 5.0  # seconds: connecting, the TLS handshake, the broker's answer
REPLY_TIMEOUT = 10.0  # seconds without any reply to what was sent: the connection is dead


class ConnectFailed(Exception):
    """No connection. `setting` names the property to look at; `permanent` failures (a wrong
    password, a certificate refused) need the user, the others may pass (broker down)."""

    def __init__(self, text: str, setting: str = "broker", permanent: bool = False) -> None:
        super().__init__(text)
        self.setting = setting
        self.permanent = permanent


class ConnectionLost(Exception):
    pass


@dataclass(frozen=True)
class Credentials:
    """What a connection needs besides the URI. Never logged."""

    password: str | None = None  # overrides the URI's
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class Backend(Protocol):
    def connect(self) -> None:
        """Connect, or raise ConnectFailed (within about CONNECT_TIMEOUT)."""

    def send(self, seq: int, destination: str, payload: bytes) -> None:
        """Hand one message to the connection (raise ConnectionLost if it is gone)."""

    def poll(self, timeout: float) -> list[int]:
        """Wait up to `timeout` for acknowledgements; the sequence numbers acknowledged."""

    def close(self) -> None: ...


def create_backend(uri: BrokerURI, credentials: Credentials) -> Backend:
    if uri.scheme == "file":
        return FileBackend()
    if uri.scheme in ("mqtt", "mqtts"):
        return MqttBackend(uri, credentials)
    if uri.scheme == "redis":
        return RedisBackend(uri, credentials)
    raise ValueError(f"no backend for {uri.scheme}")


def describe_os_error(error: OSError, uri: BrokerURI) -> str:
    where = f"{uri.host}:{uri.port}"
    if isinstance(error, socket.gaierror):
        return f"unknown host '{uri.host}' ({error.strerror})"
    if isinstance(error, ConnectionRefusedError):
        return f"nothing accepts connections at {where} (connection refused)"
    if isinstance(error, TimeoutError | socket.timeout):
        return f"no answer from {where} within {CONNECT_TIMEOUT:g} s"
    return f"cannot connect to {where}: {error.strerror or error}"


class FileBackend:
    """`file:///path.jsonl`: every message appended as one line; the destination is the path."""

    def __init__(self) -> None:
        self._files: dict[str, JsonLinesFile] = {}
        self._written: list[int] = []

    def connect(self) -> None:
        pass  # files are opened at their first message

    def send(self, seq: int, destination: str, payload: bytes) -> None:
        output = self._files.get(destination)
        try:
            if output is None:
                output = self._files[destination] = JsonLinesFile(destination)
            output.write_line(payload)
        except OSError as error:
            raise ConnectFailed(
                f"cannot append to '{destination}': {error.strerror}", permanent=True
            ) from None
        self._written.append(seq)

    def poll(self, timeout: float) -> list[int]:
        written, self._written = self._written, []
        return written

    def close(self) -> None:
        for output in self._files.values():
            output.close()
        self._files.clear()


class MqttBackend:
    """MQTT 3.1.1 with QoS 1: a message is acknowledged by the broker's PUBACK.

    Each connection is a new paho client with a clean session: what the last one had in
    flight is sent again from the outbox, not by paho."""

    WINDOW = 256  # messages in flight without PUBACK

    def __init__(self, uri: BrokerURI, credentials: Credentials) -> None:
        self.uri = uri
        self.credentials = credentials
        self._client = None
        self._acked: list[int] = []
        self._seq_of_mid: dict[int, int] = {}
        self._lost: str | None = None
        self._refused: str | None = None
        self._connected = False
        self._last_reply = 0.0
        self._client_id = f"empycustom-{uuid.uuid4().hex[:12]}"

    def connect(self) -> None:
        import paho.mqtt.client as mqtt  # lazily: only MQTT users need paho-mqtt

        self.close()
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        client.connect_timeout = CONNECT_TIMEOUT
        client.max_inflight_messages_set(self.WINDOW)
        client.max_queued_messages_set(0)
        password = self.credentials.password or self.uri.password
        if self.uri.username is not None or password is not None:
            client.username_pw_set(self.uri.username or "", password)
        if self.uri.tls:
            self._set_tls(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._lost = self._refused = None
        self._connected = False
        self._acked.clear()
        self._seq_of_mid.clear()
        try:
            client.connect(self.uri.host, self.uri.port, keepalive=30)
        except ssl.SSLCertVerificationError as error:
            raise ConnectFailed(
                f"TLS: the broker's certificate was not accepted ({error.verify_message}); "
                "ca-file must name the certificate of the authority that signed it",
                setting="ca-file",
                permanent=True,
            ) from None
        except ssl.SSLError as error:
            raise ConnectFailed(
                f"TLS handshake with {self.uri.host}:{self.uri.port} failed ({error.reason}); "
                "check ca-file, cert-file and key-file",
                setting="ca-file",
                permanent=True,
            ) from None
        except OSError as error:
            raise ConnectFailed(describe_os_error(error, self.uri)) from None
        self._client = client
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while not self._connected:
            if self._refused is not None:
                self.close()
                raise ConnectFailed(self._refused, setting=self._auth_setting(), permanent=True)
            if self._lost is not None:
                lost = self._lost
                self.close()
                hint = " (with TLS: check cert-file and key-file)" if self.uri.tls else ""
                raise ConnectFailed(f"the broker closed the connection ({lost}){hint}")
            if time.monotonic() > deadline:
                self.close()
                raise ConnectFailed(
                    f"{self.uri.host}:{self.uri.port} accepted the connection but gave no MQTT "
                    f"answer within {CONNECT_TIMEOUT:g} s"
                )
            _loop(client, 0.05)
        self._last_reply = time.monotonic()

    def _auth_setting(self) -> str:
        return "password" if self.credentials.password is not None else "broker"

    def _set_tls(self, client) -> None:
        credentials = self.credentials
        try:
            client.tls_set(
                ca_certs=credentials.ca_file,
                certfile=credentials.cert_file,
                keyfile=credentials.key_file,
            )
        except (ssl.SSLError, OSError) as error:
            setting = "key-file" if credentials.key_file else "cert-file"
            if credentials.cert_file is None:
                setting = "ca-file"
            reason = getattr(error, "reason", None) or error.strerror or str(error)
            raise ConnectFailed(
                f"TLS: cannot load the certificates ({reason})", setting=setting, permanent=True
            ) from None

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = f"the broker refused the connection: {reason_code}"
            if reason_code.value in (134, 135):  # bad user name or password, not authorized
                self._refused += " (user name or password wrong or missing)"
        else:
            self._connected = True

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected = False
        self._lost = str(reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        seq = self._seq_of_mid.pop(mid, None)
        if seq is not None:
            self._acked.append(seq)
        self._last_reply = time.monotonic()

    def send(self, seq: int, destination: str, payload: bytes) -> None:
        if self._client is None or self._lost is not None:
            raise ConnectionLost(self._lost or "not connected")
        info = self._client.publish(destination, payload, qos=1)
        if info.rc not in (0,):  # MQTT_ERR_SUCCESS; NO_CONN when the socket just closed
            raise ConnectionLost(f"publish failed ({info.rc})")
        self._seq_of_mid[info.mid] = seq

    def poll(self, timeout: float) -> list[int]:
        client = self._client
        if client is None:
            raise ConnectionLost("not connected")
        rc = _loop(client, timeout)
        if self._lost is not None or rc != 0:
            raise ConnectionLost(self._lost or f"connection lost ({rc})")
        if self._seq_of_mid and time.monotonic() - self._last_reply > REPLY_TIMEOUT:
            raise ConnectionLost(f"no PUBACK for {REPLY_TIMEOUT:g} s")
        acked, self._acked = self._acked, []
        return acked

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.disconnect()
                _loop(client, 0.01)
            except (OSError, ValueError):
                pass
            try:
                client.socket() and client.socket().close()
            except OSError:
                pass


def _loop(client, timeout: float) -> int:
    """paho's loop() on poll() rather than its select(), which fails on a descriptor above
    1023 (an application with many files open) as if the connection were lost."""
    sock = client.socket()
    if sock is None:
        return 4  # MQTT_ERR_NO_CONN
    pending = sock.pending() if hasattr(sock, "pending") else 0  # TLS bytes already read
    poller = select.poll()
    poller.register(sock, select.POLLIN | (select.POLLOUT if client.want_write() else 0))
    events = 0
    for _fd, happened in poller.poll(0 if pending else timeout * 1000):
        events |= happened
    rc = 0
    if pending or events & (select.POLLIN | select.POLLERR | select.POLLHUP):
        rc = client.loop_read()
    if rc == 0 and events & select.POLLOUT:
        rc = client.loop_write()
    if rc == 0:
        rc = client.loop_misc()
    return rc


class RedisBackend:
    """Redis Streams: `XADD stream * json <message>`, acknowledged by Redis's reply (pipelined)."""

    WINDOW = 256

    def __init__(self, uri: BrokerURI, credentials: Credentials) -> None:
        self.uri = uri
        self.credentials = credentials
        self._redis = None
        self._pending: list[tuple[int, str, bytes]] = []

    def connect(self) -> None:
        import redis  # lazily: only Redis users need redis-py
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.close()
        client = redis.Redis(
            host=self.uri.host,
            port=self.uri.port,
            username=self.uri.username,
            password=self.credentials.password or self.uri.password,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=REPLY_TIMEOUT,
            retry=Retry(NoBackoff(), 0),  # the publisher reconnects, with its own backoff
        )
        try:
            client.ping()
        except redis.AuthenticationError as error:
            client.close()
            setting = "password" if self.credentials.password is not None else "broker"
            raise ConnectFailed(
                f"Redis refused the password ({error})", setting=setting, permanent=True
            ) from None
        except redis.ResponseError as error:
            client.close()
            raise ConnectFailed(f"Redis refused the connection ({error})", permanent=True) from None
        except (redis.ConnectionError, redis.TimeoutError) as error:
            client.close()
            cause = error.__cause__ or error.__context__
            if isinstance(cause, OSError):
                raise ConnectFailed(describe_os_error(cause, self.uri)) from None
            where = f"{self.uri.host}:{self.uri.port}"
            raise ConnectFailed(f"cannot connect to {where}: {error}") from None
        self._redis = client
        self._pending.clear()

    def send(self, seq: int, destination: str, payload: bytes) -> None:
        if self._redis is None:
            raise ConnectionLost("not connected")
        self._pending.append((seq, destination, payload))

    def poll(self, timeout: float) -> list[int]:
        import redis

        if self._redis is None:
            raise ConnectionLost("not connected")
        if not self._pending:
            return []
        batch, self._pending = self._pending, []
        pipe = self._redis.pipeline(transaction=False)
        for _seq, stream, payload in batch:
            pipe.xadd(stream, {"json": payload})
        try:
            replies = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise ConnectionLost(str(error)) from None
        acked = []
        for (seq, stream, _payload), reply in zip(batch, replies, strict=True):
            if isinstance(reply, Exception):
                raise ConnectFailed(
                    f"Redis refused XADD to '{stream}': {reply}", permanent=True
                )
            acked.append(seq)
        return acked

    def close(self) -> None:
        client, self._redis = self._redis, None
        self._pending.clear()
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a dead connection must not fail the stop
                pass

"""The `broker` URI: `mqtt[s]://[user:password@]host[:port]/topic`,
`redis://[[user]:password@]host[:port]/stream`, `file:///path.jsonl`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "redis": 6379}
SCHEMES = (*DEFAULT_PORTS, "file")


class BrokerURIError(ValueError):
    """The URI cannot be used; the text never contains its password."""


@dataclass(frozen=True)
class BrokerURI:
    scheme: str
    host: str
    port: int
    destination: str  # topic, stream or file path; may hold {fields}
    username: str | None = None
    password: str | None = None

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    def redacted(self) -> str:
        """The URI as it may appear in logs and messages: any password replaced by ***."""
        if self.scheme == "file":
            return f"file://{self.destination}"
        user = self.username or ""
        credentials = f"{user}:***@" if self.password is not None else (f"{user}@" if user else "")
        return f"{self.scheme}://{credentials}{self.host}:{self.port}/{self.destination}"


def parse_broker_uri(text: str) -> BrokerURI:
    """Split a broker URI; raises BrokerURIError saying what is wrong (without secrets)."""
    if "://" not in text:
        raise BrokerURIError(f"not a URI (expected one of {', '.join(s + '://' for s in SCHEMES)})")
    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise BrokerURIError(
            f"unknown scheme '{scheme}' (expected one of {', '.join(s + '://' for s in SCHEMES)})"
        )
    parts = urlsplit(text)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BrokerURIError("a file URI has no host: file:///absolute/path.jsonl")
        path = unquote(parts.path)
        if not path or path.endswith("/"):
            raise BrokerURIError("a file URI needs a file path: file:///absolute/path.jsonl")
        return BrokerURI(scheme, "", 0, path)
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise BrokerURIError("the port is not a number from 1 to 65535") from None
    host = parts.hostname or ""
    if not host:
        raise BrokerURIError(f"no host: {scheme}://host[:port]/name")
    destination = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    what = "stream" if scheme == "redis" else "topic"
    if not destination:
        raise BrokerURIError(f"no {what} after the host: {scheme}://host[:port]/{what}")
    if scheme.startswith("mqtt") and ("+" in destination or "#" in text):
        raise BrokerURIError("the topic has a wildcard (+ or #)")
    if "?" in text or "#" in text:
        raise BrokerURIError("a broker URI has no '?' or '#' part (write them as %3F and %23)")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return BrokerURI(scheme, host, port, destination, username, password)

"""Sending frame metadata off the machine: broker URIs, messages that carry the frame's
identity, the on-disk outbox, and the backends (file, MQTT, Redis Streams) behind one small
interface (`backends.Backend`), driven by `publisher.Publisher` in threads of its own.

Plain Python, no GStreamer: imports nothing of empycustom (the `elements` layer above uses
it). Broker clients (paho-mqtt, redis) are imported only by the backend that needs them.
"""

"""The memory layout of a video frame: described once per caps, or per buffer by a GstVideoMeta."""

from __future__ import annotations

from dataclasses import dataclass

from empycustom._native import has_video_meta
from empycustom.gst.runtime import Gst, GstVideo

# Looked up once: GstVideo.<name> goes through gi's override proxy on every access.
_buffer_get_video_meta = GstVideo.buffer_get_video_meta


@dataclass(frozen=True)
class FrameLayout:
    """Format, size and per-plane stride/offset (bytes from the buffer start) of a frame.

    `size` is the number of bytes the frame occupies: the caps' frame size, or the buffer's size
    for a layout read from a GstVideoMeta.
    """

    format: str
    width: int
    height: int
    strides: tuple[int, ...]
    offsets: tuple[int, ...]
    size: int

    @classmethod
    def from_caps(cls, caps: Gst.Caps) -> FrameLayout:
        info = GstVideo.VideoInfo.new_from_caps(caps)
        if info is None:
            raise ValueError(f"caps are not raw video: {caps.to_string()}")
        return cls.from_video_info(info)

    @classmethod
    def from_video_info(cls, info: GstVideo.VideoInfo) -> FrameLayout:
        planes = info.finfo.n_planes
        return cls(
            format=info.finfo.name,
            width=info.width,
            height=info.height,
            strides=tuple(info.stride[:planes]),
            offsets=tuple(info.offset[:planes]),
            size=info.size,
        )

    @classmethod
    def from_video_meta(cls, meta: GstVideo.VideoMeta, size: int) -> FrameLayout:
        planes = meta.n_planes
        return cls(
            format=GstVideo.VideoFormat.to_string(meta.format),
            width=meta.width,
            height=meta.height,
            strides=tuple(meta.stride[:planes]),
            offsets=tuple(meta.offset[:planes]),
            size=size,
        )

    def for_buffer(self, buffer: Gst.Buffer) -> FrameLayout:
        """The layout of this buffer's frame: its GstVideoMeta's when it has one, else this one."""
        if not has_video_meta(hash(buffer)):  # the common case, without GI's ~0.5 us
            return self
        meta = _buffer_get_video_meta(buffer)
        return FrameLayout.from_video_meta(meta, buffer.get_size())

    def planes(self) -> list[dict[str, int]]:
        return [
            {"stride": stride, "offset": offset}
            for stride, offset in zip(self.strides, self.offsets, strict=True)
        ]

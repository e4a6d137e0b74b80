"""The memory layout of a negotiated video frame, described once per caps."""

from __future__ import annotations

from dataclasses import dataclass

from empycustom._gst import Gst, GstVideo


@dataclass(frozen=True)
class FrameLayout:
    """Format, size and per-plane stride/offset of the frames of one caps."""

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

    def planes(self) -> list[dict[str, int]]:
        return [
            {"stride": stride, "offset": offset}
            for stride, offset in zip(self.strides, self.offsets, strict=True)
        ]

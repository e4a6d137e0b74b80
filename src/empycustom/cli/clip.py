"""The demo's default input: a short clip made from a photograph that pans and zooms.

Nothing is downloaded: each frame is the photograph scaled and moved on a dark background,
along a smooth path that keeps it whole inside the frame, so the faces it shows move and change
size from frame to frame. `clip_placement` says where the photograph is in each frame (tests use
it to predict where the faces are); `ClipSource` renders the frames (needs OpenCV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CLIP_WIDTH = 640
CLIP_HEIGHT = 360
CLIP_FPS = 30
MIN_SCALE_SHARE = 0.65  # of the largest scale at which the photograph fits the frame
MAX_SCALE_SHARE = 0.92


@dataclass(frozen=True)
class Placement:
    """The photograph's pixel (x, y) is at (left + scale * x, top + scale * y) in the frame."""

    scale: float
    left: float
    top: float

    def box(self, left: float, top: float, width: float, height: float) -> tuple[float, ...]:
        """A rectangle of the photograph, (left, top, width, height), in frame pixels."""
        return (
            self.left + self.scale * left,
            self.top + self.scale * top,
            self.scale * width,
            self.scale * height,
        )


def clip_placement(
    index: int,
    count: int,
    photo_size: tuple[int, int],
    frame_size: tuple[int, int] = (CLIP_WIDTH, CLIP_HEIGHT),
) -> Placement:
    """Where the photograph (width, height) is in frame `index` of `count`.

    The scale grows from small to large and back once; the position goes round an ellipse
    once, within the room the current scale leaves, so the photograph never leaves the frame.
    """
    photo_width, photo_height = photo_size
    frame_width, frame_height = frame_size
    phase = index / max(count - 1, 1)  # 0 .. 1 over the clip
    fit = min(frame_width / photo_width, frame_height / photo_height)
    share = MIN_SCALE_SHARE + (MAX_SCALE_SHARE - MIN_SCALE_SHARE) * math.sin(math.pi * phase)
    scale = fit * share
    room_x = frame_width - scale * photo_width
    room_y = frame_height - scale * photo_height
    angle = 2 * math.pi * phase
    return Placement(
        scale=scale,
        left=room_x * (0.5 - 0.5 * math.cos(angle)),
        top=room_y * (0.5 - 0.5 * math.sin(angle)),
    )


class ClipSource:
    """Renders the clip's frames from a photograph, as RGB arrays (height, width, 3)."""

    def __init__(self, photo_path: str, count: int) -> None:
        import cv2  # the demo checks that OpenCV is installed before it gets here
        import numpy as np

        photo = cv2.imread(photo_path, cv2.IMREAD_COLOR)
        if photo is None:
            raise ValueError(f"demo input '{photo_path}' is not an image OpenCV can read")
        self._cv2 = cv2
        self.photo = cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)
        self.count = count
        # A dark vertical gradient: nothing in it looks like a face.
        shade = np.linspace(40, 12, CLIP_HEIGHT, dtype=np.float32)[:, None, None]
        tint = np.array([0.55, 0.65, 1.0], dtype=np.float32)
        self.background = np.broadcast_to(shade * tint, (CLIP_HEIGHT, CLIP_WIDTH, 3)).astype(
            np.uint8
        )

    @property
    def photo_size(self) -> tuple[int, int]:
        return self.photo.shape[1], self.photo.shape[0]

    def frame(self, index: int) -> Any:
        """Frame `index`: the photograph placed by `clip_placement` on the background."""
        import numpy as np

        place = clip_placement(index, self.count, self.photo_size)
        matrix = np.array([[place.scale, 0, place.left], [0, place.scale, place.top]])
        return self._cv2.warpAffine(
            self.photo, matrix, (CLIP_WIDTH, CLIP_HEIGHT), dst=self.background.copy(),
            flags=self._cv2.INTER_AREA, borderMode=self._cv2.BORDER_TRANSPARENT,
        )  # fmt: skip

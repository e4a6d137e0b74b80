"""A face detector written in Python: OpenCV's cascade classifier, each face a new object.

It does what the C `facedetect` element does (same cascade, same parameters, so the same
boxes), through `empycustom.add_object()`: the faces are real ROI metas of type "face", so
`average_intensity.py`, `draw_overlay.py` and any ROI reader work after it as after
`facedetect`. Its frame result is `{"faces": N}`.

Options (defaults are facedetect's): `cascade` (a file, or the name of one of the cascades
shipped with OpenCV; default haarcascade_frontalface_default.xml), `scale_factor` (1.25),
`min_neighbors` (3), `min_size` ([30, 30]), `label` ("face"), `class_id` (none).
Needs OpenCV 4: `pip install 'empycustom[opencv]'`. Nothing is downloaded.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from gi.repository import Gst

import empycustom

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"
# Where the cascades are: Debian's opencv-data (what facedetect reads), then pip's OpenCV.
CASCADE_FOLDERS = ["/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades"]
CANNY_PRUNING = 1  # CV_HAAR_DO_CANNY_PRUNING: facedetect's default flags

cv2: Any = None
_classifiers: dict[str, Any] = {}
# The conversion of each format to grey; I420, NV12 and GRAY8 are grey already (their Y plane).
_TO_GREY = {
    "RGBA": "COLOR_RGBA2GRAY",
    "RGBx": "COLOR_RGBA2GRAY",
    "RGB": "COLOR_RGB2GRAY",
    "BGRA": "COLOR_BGRA2GRAY",
    "BGRx": "COLOR_BGRA2GRAY",
    "BGR": "COLOR_BGR2GRAY",
}


def cascade_path(name: str) -> str:
    """The cascade file `name`: a path, or a file in the folders OpenCV ships them in."""
    if os.path.isfile(name):
        return name
    folders = list(CASCADE_FOLDERS)
    data = getattr(cv2, "data", None)
    if data is not None:
        folders.append(data.haarcascades)
    for folder in folders:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    shipped = sorted({os.path.basename(p) for f in folders for p in glob.glob(f"{f}/*.xml")})
    raise FileNotFoundError(
        f"face_detector: cascade {name!r} not found in {', '.join(folders)}; "
        f"shipped here: {', '.join(shipped) or 'none (install opencv-data)'}"
    )


def start(options: dict) -> None:
    global cv2
    try:
        import cv2 as opencv
    except ImportError as error:
        raise ImportError("face_detector needs OpenCV: pip install 'empycustom[opencv]'") from error
    if not hasattr(opencv, "CascadeClassifier"):
        raise ImportError(
            f"face_detector needs OpenCV 4 (OpenCV {opencv.__version__} has no "
            "CascadeClassifier): pip install 'opencv-python-headless<5'"
        )
    cv2 = opencv
    path = cascade_path(options.get("cascade", DEFAULT_CASCADE))
    classifier = cv2.CascadeClassifier(path)
    if classifier.empty():
        raise ValueError(f"face_detector: {path} is not a cascade OpenCV can read")
    _classifiers[path] = classifier


def detect(grey: Any, options: dict) -> list[tuple[int, int, int, int]]:
    """Face boxes (left, top, width, height) in a grey image, as facedetect finds them."""
    classifier = _classifiers[cascade_path(options.get("cascade", DEFAULT_CASCADE))]
    min_width, min_height = options.get("min_size", (30, 30))
    faces = classifier.detectMultiScale(
        grey,
        float(options.get("scale_factor", 1.25)),
        int(options.get("min_neighbors", 3)),
        CANNY_PRUNING,
        (int(min_width), int(min_height)),
    )
    return [tuple(int(v) for v in face) for face in faces]


def process_ip(io_buffer: Gst.Buffer, in_meta: dict, options: dict, events: dict) -> dict:
    frame = in_meta["frame"][0]
    with empycustom.frame(io_buffer, in_meta) as view:
        if isinstance(view, tuple):  # I420, NV12: the luma plane
            grey = view[0]
        elif view.ndim == 2:  # GRAY8
            grey = view
        else:
            grey = cv2.cvtColor(view, getattr(cv2, _TO_GREY[frame["format"]]))
        boxes = detect(grey, options)
    label = options.get("label", "face")
    class_id = options.get("class_id")
    for box in boxes:
        empycustom.add_object(in_meta, label, box, class_id=class_id)
    return {"faces": len(boxes)}


def process(in_buffer: Gst.Buffer, in_meta: dict, options: dict, events: dict) -> tuple:
    """Not in place: detect like process_ip() (the faces go on the output buffer)."""
    return in_buffer, process_ip(in_buffer, in_meta, options, events)

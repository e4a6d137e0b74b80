"""Classify each object's crop with a PyTorch model (the reference's "Torch classification").

The model is loaded once in start(), on CUDA when available, else on the CPU. Per object the
library returns `{"predicted_class": LABEL, "probability": P, "class_index": I}` where P is the
softmax probability of the predicted class; objects whose box lies outside the frame get `{}`.

Options:
- `model`: path of a TorchScript file (`torch.jit.save`), or of an exported program
  (`torch.export.save`, a `.pt2` file, exported with a dynamic batch dimension), or
- `architecture` + `weights`: a torchvision model name (e.g. "squeezenet1_0") and the path of a
  local state-dict file for it (needs torchvision; nothing is downloaded).
- `labels`: a list of class names, or the path of a text file with one name per line. The model
  must output one score per label.
- `input_size` (default 224): crops are resized to input_size x input_size.
- `mean`, `std` (default ImageNet's): per-channel normalization of RGB values in [0, 1].
- `device` (default "cuda" when available, else "cpu").

Frames must be packed RGB (RGBA, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR, RGB, BGR): put
`videoconvert ! video/x-raw,format=RGBA` before the element for other formats.

Install PyTorch with `pip install empycustom[torch]`; it is imported in start(), so merely
loading this file does not need it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Bytes per pixel and the byte index of red, green and blue within a pixel.
PACKED_RGB = {
    "RGBA": (4, (0, 1, 2)), "RGBx": (4, (0, 1, 2)),
    "BGRA": (4, (2, 1, 0)), "BGRx": (4, (2, 1, 0)),
    "ARGB": (4, (1, 2, 3)), "xRGB": (4, (1, 2, 3)),
    "ABGR": (4, (3, 2, 1)), "xBGR": (4, (3, 2, 1)),
    "RGB": (3, (0, 1, 2)), "BGR": (3, (2, 1, 0)),
}  # fmt: skip


@dataclass
class Classifier:
    """What start() loads: the model on its device, the labels, and the input normalization."""

    torch: Any  # the torch module, imported in start()
    model: Any
    device: Any
    labels: list[str]
    input_size: int
    mean: Any  # (1, 3, 1, 1) tensors on the device
    std: Any


classifier: Classifier | None = None


def read_labels(value: Any) -> list[str]:
    """Labels from a list, or from a text file with one label per line."""
    if isinstance(value, (list, tuple)):
        return [str(label) for label in value]
    if isinstance(value, str) and os.path.isfile(value):
        with open(value, encoding="utf-8") as labels_file:
            return [line.strip() for line in labels_file if line.strip()]
    raise ValueError(f"option 'labels' must be a list or a labels file; got {value!r}")


def load_model(torch: Any, options: dict[str, Any], num_classes: int, device: Any) -> Any:
    if "model" in options:
        path = options["model"]
        if path.endswith(".pt2"):  # torch.export.save(); its module() cannot switch to eval()
            return torch.export.load(path).module().to(device)
        return torch.jit.load(path, map_location=device).eval()
    if "architecture" in options:
        try:
            import torchvision
        except ImportError as error:
            raise ImportError(
                "option 'architecture' needs torchvision; install it, or give a TorchScript "
                "file as option 'model'"
            ) from error
        if "weights" not in options:
            raise ValueError("option 'architecture' needs option 'weights': a state-dict file")
        model = torchvision.models.get_model(
            options["architecture"], weights=None, num_classes=num_classes
        )
        state = torch.load(options["weights"], map_location=device, weights_only=True)
        model.load_state_dict(state)
        return model.to(device).eval()
    raise ValueError("give option 'model' (a TorchScript file) or 'architecture' and 'weights'")


def start(options: dict[str, Any]) -> None:
    """Load the model and labels once, and check with one dummy crop that they fit."""
    global classifier
    import torch

    labels = read_labels(options.get("labels"))
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(options.get("device", default_device))
    model = load_model(torch, options, len(labels), device)
    size = int(options.get("input_size", 224))

    def channel_values(name: str, default: tuple[float, ...]) -> Any:
        values = torch.tensor(options.get(name, default), dtype=torch.float32, device=device)
        return values.reshape(1, 3, 1, 1)

    candidate = Classifier(
        torch, model, device, labels, size, channel_values("mean", IMAGENET_MEAN),
        channel_values("std", IMAGENET_STD),
    )  # fmt: skip
    outputs = classify(candidate, [np.zeros((size, size, 3), np.uint8)]).shape[1]
    if outputs != len(labels):
        raise ValueError(f"the model gives {outputs} scores per crop but {len(labels)} labels")
    classifier = candidate


def stop(options: dict[str, Any]) -> None:
    """Drop the model; give cached CUDA memory back."""
    global classifier
    if classifier is not None and classifier.device.type == "cuda":
        classifier.torch.cuda.empty_cache()
    classifier = None


def rgb_view(data: memoryview, frame: dict[str, Any]) -> np.ndarray:
    """A (height, width, 3) RGB view of a packed-RGB frame (no copy; valid while mapped)."""
    if frame["format"] not in PACKED_RGB:
        raise ValueError(
            f"torch_classification reads packed RGB frames; got {frame['format']}: put "
            "videoconvert ! video/x-raw,format=RGBA before empycustom"
        )
    pixel_bytes, (red, green, blue) = PACKED_RGB[frame["format"]]
    plane = frame["planes"][0]
    height, width = frame["height"], frame["width"]
    pixels = np.ndarray(
        (height, width, pixel_bytes), np.uint8, data, plane["offset"],
        (plane["stride"], pixel_bytes, 1),
    )  # fmt: skip
    return pixels[:, :, [red, green, blue]] if (red, green, blue) != (0, 1, 2) else pixels[..., :3]


def crop(image: np.ndarray, rect: dict[str, Any]) -> np.ndarray:
    """The part of `image` inside the box, clamped to the frame (empty when outside)."""
    height, width = image.shape[:2]
    left, top = max(int(rect["left"]), 0), max(int(rect["top"]), 0)
    right = min(int(rect["left"]) + int(rect["width"]), width)
    bottom = min(int(rect["top"]) + int(rect["height"]), height)
    return image[top:bottom, left:right]


def classify(state: Classifier, crops: list[np.ndarray]) -> Any:
    """Class probabilities (softmax) for RGB crops, one row per crop, in one batch."""
    torch = state.torch
    functional = torch.nn.functional
    size = (state.input_size, state.input_size)
    batch = []
    for rgb in crops:
        tensor = torch.from_numpy(rgb.copy()).to(state.device)  # a copy: rgb is read-only
        tensor = tensor.permute(2, 0, 1).unsqueeze(0).float().div_(255)
        batch.append(functional.interpolate(tensor, size=size, mode="bilinear", antialias=True))
    with torch.inference_mode():
        scores = state.model((torch.cat(batch) - state.mean) / state.std)
        return functional.softmax(scores, dim=1).cpu()


def process_ip(
    io_buffer: Gst.Buffer, in_meta: dict[str, Any], options: dict[str, Any], events: dict[str, Any]
) -> list[dict[str, Any]]:
    """One `{"predicted_class", "probability", "class_index"}` per object."""
    if classifier is None:
        raise RuntimeError("start() did not load a model")
    frame = in_meta["frame"][0]
    objects = frame["object"]
    if not objects:
        return []
    with io_buffer.map(Gst.MapFlags.READ) as info:
        image = rgb_view(info.data, frame)
        crops = [crop(image, obj["rect_params"]) for obj in objects]
        wanted = [index for index, rgb in enumerate(crops) if rgb.size]
        probabilities = classify(classifier, [crops[i] for i in wanted]) if wanted else None
        del image, crops  # views of the mapped memory
    results: list[dict[str, Any]] = [{} for _ in objects]
    for row, index in enumerate(wanted):
        probability, class_index = probabilities[row].max(dim=0)
        results[index] = {
            "predicted_class": classifier.labels[int(class_index)],
            "probability": round(float(probability), 6),
            "class_index": int(class_index),
        }
    return results


def process(
    in_buffer: Gst.Buffer, in_meta: dict[str, Any], options: dict[str, Any], events: dict[str, Any]
) -> tuple[Gst.Buffer, list[dict[str, Any]]]:
    """Not in place: classify like process_ip() and pass the frame on unchanged."""
    return in_buffer, process_ip(in_buffer, in_meta, options, events)

"""The torch_classification example with a tiny TorchScript model built here, on the CPU.

The model scores each crop by its mean color (a 1x1 convolution and a linear layer), so the
expected class and softmax probability of every object can be computed independently.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

if sys.version_info[:2] != (3, 11):
    pytest.skip(
        f"torch is not installed with Python {sys.version.split()[0]}: its CPU wheel exists for "
        "Python 3.11 only, and plain torch would pull a multi-GB CUDA build (scripts/setup.sh)",
        allow_module_level=True,
    )
torch = pytest.importorskip("torch")
# TorchScript is deprecated in PyTorch 2.13 but still what many models ship as.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")

from empycustom.cli.check import SyntheticObject, roi_buffer  # noqa: E402
from empycustom.cli.main import main  # noqa: E402
from empycustom.examples import example_path  # noqa: E402
from empycustom.frames.layout import FrameLayout  # noqa: E402
from empycustom.gst.runtime import Gst  # noqa: E402
from empycustom.library.loader import load_library  # noqa: E402
from empycustom.meta.inmeta import build_in_meta  # noqa: E402

LIBRARY = example_path("torch_classification.py")
LABELS = ["red", "green", "blue"]
SCALE = 4.0  # logits = SCALE * mean color in [0, 1]: probabilities well below 1
WIDTH, HEIGHT = 160, 120
CAPS = f"video/x-raw,format=RGBA,width={WIDTH},height={HEIGHT},framerate=30/1"

# Uniform patches (RGB) and objects on them, in the layout detectors' ROIs give in_meta.
PATCHES = {
    (10, 10, 40, 30): (200, 60, 30),
    (70, 20, 30, 50): (40, 180, 90),
    (120, 80, 40, 40): (20, 70, 220),  # reaches the right and bottom edges
}
OBJECTS = [
    SyntheticObject("thing", 0, 0.9, 15, 12, 30, 20),
    SyntheticObject("thing", 0, 0.8, 72, 25, 20, 40),
    SyntheticObject("thing", 0, 0.7, 130, 90, 60, 60),  # partly outside: clamped to the patch
    SyntheticObject("thing", 0, 0.6, 200, 10, 20, 20),  # wholly outside: no result
]
EXPECTED_COLORS = [(200, 60, 30), (40, 180, 90), (20, 70, 220), None]


class MeanColorClassifier(torch.nn.Module):
    """logits[i] = SCALE * mean of color channel order[i]."""

    def __init__(self, order: list[int]) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, kernel_size=1, bias=False)
        self.linear = torch.nn.Linear(3, 3, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
            self.linear.weight.copy_(SCALE * torch.eye(3)[order])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.conv(x).mean(dim=(2, 3)))


def save_model(path, order: list[int]) -> str:
    model = MeanColorClassifier(order).eval()
    if path.suffix == ".pt2":
        crops = torch.export.Dim("crops")
        example = (torch.zeros(2, 3, 8, 8),)
        program = torch.export.export(model, example, dynamic_shapes={"x": {0: crops}})
        torch.export.save(program, str(path))
    else:
        torch.jit.save(torch.jit.script(model), str(path))
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {
        "identity": save_model(folder / "identity.pt", [0, 1, 2]),
        "rotated": save_model(folder / "rotated.pt", [2, 0, 1]),
        "exported": save_model(folder / "exported.pt2", [1, 2, 0]),
    }


def options_for(model: str, labels=LABELS) -> dict:
    return {"model": model, "labels": labels, "mean": [0, 0, 0], "std": [1, 1, 1],
            "input_size": 8, "device": "cpu"}  # fmt: skip


def expected_results(order: list[int]) -> list[dict]:
    results = []
    for color in EXPECTED_COLORS:
        if color is None:
            results.append({})
            continue
        logits = SCALE * np.array(color, dtype=np.float64)[order] / 255
        probabilities = np.exp(logits) / np.exp(logits).sum()
        best = int(probabilities.argmax())
        results.append(
            {
                "predicted_class": LABELS[best],
                "probability": probabilities[best],
                "class_index": best,
            }
        )
    return results


def frame_pixels() -> np.ndarray:
    pixels = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    pixels[..., 3] = 255
    for (left, top, width, height), color in PATCHES.items():
        pixels[top : top + height, left : left + width, :3] = color
    return pixels


def in_meta_objects() -> list[dict]:
    return [
        {"object_id": i, "class_id": o.class_id, "obj_label": o.label, "confidence": o.confidence,
         "rect_params": {"left": o.left, "top": o.top, "width": o.width, "height": o.height}}
        for i, o in enumerate(OBJECTS)
    ]  # fmt: skip


def assert_results(results: list[dict], order: list[int]) -> None:
    expected = expected_results(order)
    assert [r.get("predicted_class") for r in results] == [
        e.get("predicted_class") for e in expected
    ]
    for result, wanted in zip(results, expected, strict=True):
        if wanted:
            assert result["class_index"] == wanted["class_index"]
            assert result["probability"] == pytest.approx(wanted["probability"], abs=1e-5)


def run_library(options: dict) -> list[dict]:
    """start(), process_ip() on one real buffer, stop(), as the element calls them."""
    library = load_library(LIBRARY, in_place=True)
    library.start(options)
    try:
        buffer = roi_buffer(frame_pixels(), OBJECTS, 0)
        layout = FrameLayout.from_caps(Gst.Caps.from_string(CAPS))
        in_meta = build_in_meta(0, buffer.pts, layout, in_meta_objects())
        return library.process_ip(buffer, in_meta, options, {})
    finally:
        library.stop(options)
        library.unload()


@pytest.mark.parametrize(
    ("model", "order", "first"),
    [("identity", [0, 1, 2], "red"), ("rotated", [2, 0, 1], "green"),
     ("exported", [1, 2, 0], "blue")],
)  # fmt: skip
def test_predictions_and_probabilities_come_from_the_given_model(models, model, order, first):
    results = run_library(options_for(models[model]))
    assert_results(results, order)
    assert results[0]["predicted_class"] == first


def test_labels_can_come_from_a_file(models, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n\n")
    assert_results(run_library(options_for(models["identity"], str(labels))), [0, 1, 2])


def test_process_without_start_says_so():
    library = load_library(LIBRARY, in_place=True)
    try:
        layout = FrameLayout.from_caps(Gst.Caps.from_string(CAPS))
        in_meta = build_in_meta(0, 0, layout, in_meta_objects())
        with pytest.raises(RuntimeError, match="start\\(\\) did not load a model"):
            library.process_ip(roi_buffer(frame_pixels(), [], 0), in_meta, {}, {})
    finally:
        library.unload()


@pytest.mark.parametrize(
    ("fmt", "pixel_bytes", "order"),
    [("RGBA", 4, (0, 1, 2)), ("BGRx", 4, (2, 1, 0)), ("ARGB", 4, (1, 2, 3)), ("RGB", 3, (0, 1, 2)),
     ("BGR", 3, (2, 1, 0))],
)  # fmt: skip
def test_rgb_view_reads_packed_formats_with_padded_rows(fmt, pixel_bytes, order):
    library = load_library(LIBRARY, in_place=True)
    try:
        width, height = 7, 5  # RGB rows of 21 bytes are padded to 24
        layout = FrameLayout.from_caps(
            Gst.Caps.from_string(f"video/x-raw,format={fmt},width={width},height={height}")
        )
        rgb = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
        data = np.zeros(layout.size, np.uint8)
        rows = data.reshape(height, layout.strides[0])[:, : width * pixel_bytes]
        pixels = rows.reshape(height, width, pixel_bytes)
        for channel in range(3):
            pixels[:, :, order[channel]] = rgb[:, :, channel]
        frame = build_in_meta(0, 0, layout)["frame"][0]
        view = library.module.rgb_view(memoryview(data.tobytes()), frame)
        assert np.array_equal(view, rgb)
    finally:
        library.unload()


def run_in_element(pipeline, options: dict, frames: int = 2):
    """Run the example in the element on test frames (no objects reach it yet)."""
    description = (
        f"videotestsrc num-buffers={frames} ! {CAPS} ! "
        f"empycustom name=e in-place=true custom-lib={LIBRARY} ! appsink name=sink"
    )

    def configure(pipe: Gst.Pipeline) -> None:
        pipe.get_by_name("e").set_property("options", json.dumps(options))

    return pipeline(description, configure=configure)


def test_a_wrong_number_of_labels_stops_the_pipeline_with_a_clear_error(pipeline, models):
    result = run_in_element(pipeline, options_for(models["identity"], ["red", "green"]))
    assert not result.eos
    assert "start() of custom-lib" in result.error_texts
    assert "the model gives 3 scores per crop but 2 labels" in result.error_texts


def test_architecture_without_torchvision_says_what_to_install(pipeline):
    try:
        import torchvision  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torchvision is installed")
    options = {"architecture": "squeezenet1_0", "weights": "w.pth", "labels": LABELS}
    result = run_in_element(pipeline, options)
    assert not result.eos
    assert "option 'architecture' needs torchvision" in result.error_texts


def test_the_example_runs_in_the_element_and_passes_check(models, pipeline, capsys):
    result = run_in_element(pipeline, options_for(models["identity"]), frames=3)
    assert result.eos, result.error_texts
    assert len(result.frames) == 3
    options = json.dumps(options_for(models["identity"]))
    assert main(["check", LIBRARY, "--options", options]) == 0
    assert capsys.readouterr().out.rstrip().endswith("check: ok")


def test_objects_from_roi_metas_are_classified_in_a_pipeline(models, pipeline):
    description = (
        f"appsrc name=src format=time caps={CAPS} ! empycustom name=e in-place=true "
        f"custom-lib={LIBRARY} ! appsink name=sink"
    )

    def configure(pipe: Gst.Pipeline) -> None:
        pipe.get_by_name("e").set_property("options", json.dumps(options_for(models["rotated"])))
        source = pipe.get_by_name("src")
        source.emit("push-buffer", roi_buffer(frame_pixels(), OBJECTS, 0))
        source.emit("end-of-stream")

    result = pipeline(description, configure=configure)
    assert result.eos, result.error_texts
    objects = result.frames[0].meta["frame"][0]["object"]
    assert_results([obj.get("emcustom", {}) for obj in objects], [2, 0, 1])

"""Types of the C extension `empycustom._native` (src/empycustom/_native.c)."""

from collections.abc import Callable, Sequence
from typing import Any

RESULT_PARAM: str
DETECTION_PARAM: str
CUSTOM_META_NAME: str

def read_rois(
    buffer_address: int, label_ids: dict[str, int], decode: Callable[[str], Any]
) -> tuple[list[dict[str, Any]], list[int | None]]: ...
def write_results(
    roi_addresses: Sequence[int | None], json_texts: Sequence[str | None]
) -> None: ...
def write_meta_json(buffer_address: int, text: str) -> None: ...
def read_meta_json(buffer_address: int) -> str | None: ...
def has_handler(object_address: int, signal_id: int) -> bool: ...

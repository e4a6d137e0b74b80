"""Adding, changing and removing `GstVideoRegionOfInterestMeta`s by address, through ctypes.

PyGObject gives no address of a ROI meta it adds and cannot remove one from a buffer; the
element tracks ROI metas by address (`empycustom._native.read_rois`), so these work on the same.
Only called when a library creates or removes an object: nothing here runs per buffer.
"""

from __future__ import annotations

import ctypes

from empycustom.gst.clib import gst

gstvideo = ctypes.CDLL("libgstvideo-1.0.so.0")


class RoiMetaStruct(ctypes.Structure):
    """The public fields of a GstVideoRegionOfInterestMeta (after its GstMeta header)."""

    _fields_ = [
        ("meta_flags", ctypes.c_int),
        ("meta_info", ctypes.c_void_p),
        ("roi_type", ctypes.c_uint32),
        ("id", ctypes.c_int),
        ("parent_id", ctypes.c_int),
        ("x", ctypes.c_uint),
        ("y", ctypes.c_uint),
        ("w", ctypes.c_uint),
        ("h", ctypes.c_uint),
        ("params", ctypes.c_void_p),
    ]


for _library, _name, _restype, _argtypes in (
    (gstvideo, "gst_buffer_add_video_region_of_interest_meta", ctypes.c_void_p,
     [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
      ctypes.c_uint]),
    (gstvideo, "gst_video_region_of_interest_meta_add_param", None,
     [ctypes.c_void_p, ctypes.c_void_p]),
    (gst, "gst_buffer_remove_meta", ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
    (gst, "gst_mini_object_is_writable", ctypes.c_int, [ctypes.c_void_p]),
    (gst, "gst_structure_new_from_string", ctypes.c_void_p, [ctypes.c_char_p]),
):  # fmt: skip
    getattr(_library, _name).restype = _restype
    getattr(_library, _name).argtypes = _argtypes


def is_writable(buffer_address: int) -> bool:
    return bool(gst.gst_mini_object_is_writable(buffer_address))


def add_roi(
    buffer_address: int,
    roi_type: str,
    box: tuple[int, int, int, int],
    roi_id: int,
    parent_id: int,
    params: list[str],
) -> int:
    """Add a ROI meta to a writable buffer; returns its address.

    `params` are GStreamer structure texts (`detection, label_id=(int)1`), added as its params.
    """
    address = gstvideo.gst_buffer_add_video_region_of_interest_meta(
        buffer_address, roi_type.encode(), *box
    )
    if not address:
        raise ValueError("the ROI meta could not be added to the buffer")
    roi = RoiMetaStruct.from_address(address)
    roi.id = roi_id
    roi.parent_id = parent_id
    for text in params:
        structure = gst.gst_structure_new_from_string(text.encode())
        if not structure:
            raise ValueError(f"not a GStreamer structure: {text!r}")
        gstvideo.gst_video_region_of_interest_meta_add_param(address, structure)
    return address


def set_roi_id(roi_address: int, roi_id: int) -> None:
    RoiMetaStruct.from_address(roi_address).id = roi_id


def remove_meta(buffer_address: int, meta_address: int) -> None:
    """Remove a meta from a writable buffer."""
    if not gst.gst_buffer_remove_meta(buffer_address, meta_address):
        raise ValueError("the meta could not be removed from the buffer")

# The reference's "Average Intensity in a person ROI" example, verbatim (its text, with the
# indentation the documentation page lost): a compatibility fixture. It imports PIL and cv2,
# swaps axes, overwrites the ROI size and never unmaps the buffer; it must still run unchanged.
from PIL import Image
import cv2
import gi
import numpy as np
gi.require_version('Gst', '1.0')
from gi.repository import Gst
DEFAULT_PERSON_CLASS_ID = 2
def process(in_buffer, in_meta, options, events):
    """
    Applies a custom function to a video stream
    Parameters
    ------------
    in_buffer : array
        Input buffer as a numpy array
    in_meta : dictionary
        Input meta dictionary
    options : dictionary
        Options dictionary containing custom configurable options
    Returns
    -------
    out_buffer : object
        Output buffer object of the GstBuffer type. If None is returned
        here, the output frame will be empty
    out_meta : string
        Output meta string. The input metadata is moved over by the
        gstemcustom element so this should only contain the custom metadata
    """
    return None, ''
def process_ip(io_buffer, in_meta, options, events):
    """
    Applies a custom function to a video stream in-place
    Parameters
    ------------
    io_buffer : array
        Input/Output buffer as a numpy array
    in_meta : dictionary
        Input/Output meta dictionary
    options : dictionary
        Options dictionary containing custom configurable options
    Returns
    -------
    out_meta : string
        Output meta string. The input meta data is moved over by the
        gstemcustom element so this should only contain the custom metadata
    """
    # Convert the buffer to numpy array
    ret, map_info = io_buffer.map(Gst.MapFlags.READ)
    w = in_meta["frame"][0]["source_frame_width"]
    h = in_meta["frame"][0]["source_frame_height"]
    buffer_array = np.ndarray(
        shape=(
            h,
            w),
        dtype=np.uint8,
        buffer=map_info.data)
    # Parsing options
    # The default DeepStream class ID for person is 2
    person_class_id = 2
    if options:
        if "person_class_id" in options:
            person_class_id = int(options["person_class_id"])
    # Frame Array
    in_array = in_meta["frame"]
    # First Element in frame array
    in_object = in_array[0]
    # Get object array
    object_array = in_object["object"]
    out_meta_array = []
    for obj in object_array:
        out_obj = {}
        # Get the average intensity for person objects
        if obj["class_id"] == person_class_id:
            # Python DeepStream is filling some meta fields wrongly including
            # width, height, and display text
            obj["rect_params"]["width"] = 50
            obj["rect_params"]["height"] = 150
            left = int(obj["rect_params"]["left"])
            top = int(obj["rect_params"]["top"])
            width = int(obj["rect_params"]["width"])
            height = int(obj["rect_params"]["height"])
            rect = buffer_array[left:left + width, top:top + height]
            out_obj["average_intensity"] = rect.mean()
        out_meta_array.append(out_obj)
    return str(out_meta_array)

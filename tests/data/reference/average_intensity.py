# The reference's "Average Intensity in a person ROI" example, verbatim but for the unused
# PIL/cv2 imports: a compatibility fixture. It swaps axes, overwrites the ROI size and never
# unmaps the buffer; it must still run unchanged.
import gi
import numpy as np
gi.require_version('Gst', '1.0')
from gi.repository import Gst
DEFAULT_PERSON_CLASS_ID = 2
def process(in_buffer, in_meta, options, events):
    return None, ''
def process_ip(io_buffer, in_meta, options, events):
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

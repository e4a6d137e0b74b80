"""Benchmark library: returns about options["bytes"] bytes of results, the frame's "emcustom".

options["as"] is "dict" (the dict itself), "text" (its JSON text, made once) or "pylit" (the
Python-literal text `str([content])` makes, as the reference's libraries return: no objects, so
the list's one element is the frame's result): the same content every way, so that the cases
compare what the element does with each.
"""

import json

_made = {}


def _content(size):
    detections = []
    length = 2  # of json.dumps(detections), kept up to date: dumping the list each time was
    while length < size - 20:  # quadratic, minutes under callgrind at 100 kB
        index = len(detections)
        detection = {
            "id": index,
            "label": "person",
            "score": 0.5,
            "box": [index % 640, index % 480, 32, 64],
        }
        length += len(json.dumps(detection)) + (2 if detections else 0)  # ", " between
        detections.append(detection)
    return {"detections": detections}


def process_ip(io_buffer, in_meta, options, events):
    key = (options["bytes"], options["as"])
    if key not in _made:
        content = _content(options["bytes"])
        made = {"dict": content, "text": json.dumps(content), "pylit": str([content])}
        _made[key] = made[options["as"]]
    return _made[key]

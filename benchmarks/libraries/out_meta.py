"""Benchmark library: returns about options["bytes"] bytes of results, the frame's "emcustom".

options["as"] is "dict" (the dict itself) or "text" (its JSON text, made once): the same
content both ways, so that the two cases compare what the element does with each.
"""

import json

_made = {}


def _content(size):
    detections = []
    while len(json.dumps(detections)) < size - 20:
        index = len(detections)
        detections.append(
            {
                "id": index,
                "label": "person",
                "score": 0.5,
                "box": [index % 640, index % 480, 32, 64],
            }
        )
    return {"detections": detections}


def process_ip(io_buffer, in_meta, options, events):
    key = (options["bytes"], options["as"])
    if key not in _made:
        content = _content(options["bytes"])
        _made[key] = json.dumps(content) if options["as"] == "text" else content
    return _made[key]

"""A worker process of `worker-kind=process`: `python -m empycustom.elements.worker_main FD`.

It serves frames over the socket FD (frames.worker_process), with add_object() and
remove_object() recorded for the element (meta.editing), which sits above frames.
"""

import sys

from empycustom.frames.worker_process import main
from empycustom.meta import editing

if __name__ == "__main__":
    main(sys.argv, editing)

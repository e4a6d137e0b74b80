/* empycustom._native: numpy views of frames without gst-python's map (frames/views.py).
 *
 * MappedBuffer maps a GstBuffer and lends its bytes through the buffer protocol; FrameViews is
 * what empycustom.frame() returns, the with block that maps a buffer and yields numpy views of
 * its planes; escape_views() makes the views that outlive a library call safe.
 */
#include "_native.h"
#include <gst/gst.h>

/* A mapped buffer that lends its bytes through the buffer protocol, for numpy views of frames.
 * gst-python's Buffer.map() and unmap() cost about 6 us together, this about 0.3 us. unmap()
 * also drops the reference taken at map time: a buffer must stay writable for what follows.
 *
 * Numpy arrays made on it keep this object (not an export: numpy releases that at once) as
 * their base, so it lives exactly as long as any view of the frame. unmap() therefore keeps a
 * reference to the memory the views point into until this object dies: a view kept after
 * unmap() never reads or writes freed memory. escape_views() goes further for views that
 * outlive their frame's library call (see there). */
typedef struct {
  PyObject_HEAD
  GstBuffer *buffer;
  GstMapInfo info;
  gboolean mapped;
  gboolean writable; /* mapped with GST_MAP_WRITE */
  GstMemory *kept;   /* the memory the views point into, after unmap() */
  GstMapInfo kept_info;
  gboolean kept_mapped; /* escape() mapped it again, for memory that needs a map to be valid */
  gboolean kept_shared; /* escape() took a share lock: no one else may write it now */
} MappedBuffer;

static int mapped_buffer_get(PyObject *self, Py_buffer *view, int flags) {
  MappedBuffer *mapped = (MappedBuffer *)self;
  if (!mapped->mapped) {
    view->obj = NULL;
    PyErr_SetString(PyExc_ValueError, "the buffer was unmapped");
    return -1;
  }
  int readonly = !(mapped->info.flags & GST_MAP_WRITE);
  return PyBuffer_FillInfo(view, self, mapped->info.data, (Py_ssize_t)mapped->info.size, readonly,
                           flags);
}

static void mapped_buffer_unmap_buffer(MappedBuffer *mapped) {
  if (mapped->mapped) {
    mapped->mapped = FALSE;
    if (mapped->kept == NULL) mapped->kept = gst_memory_ref(mapped->info.memory);
    gst_buffer_unmap(mapped->buffer, &mapped->info);
  }
  g_clear_pointer(&mapped->buffer, gst_buffer_unref);
}

static PyObject *mapped_buffer_unmap(PyObject *self, PyObject *unused) {
  mapped_buffer_unmap_buffer((MappedBuffer *)self);
  Py_RETURN_NONE;
}

/* A view outlives the library call its frame was lent to: the buffer goes downstream, and its
 * memory back to a pool for later frames, or is freed. So that the view never writes into
 * another frame nor reads freed memory, the memory it points into becomes its own:
 * - a writable buffer (in place, the frame itself) gets a copy of it instead: the frame goes
 *   downstream unchanged, and later writes through the view reach nobody;
 * - otherwise a share lock makes the memory unwritable for everyone else (a pool discards a
 *   buffer whose memory is shared; a writer copies first), and views of a read map are
 *   read-only anyway.
 * The memory is mapped again for as long as the views live. */
static void mapped_buffer_escape(MappedBuffer *mapped, GstBuffer *buffer) {
  mapped_buffer_unmap_buffer(mapped); /* a frame() block left open */
  if (mapped->kept == NULL || mapped->kept_mapped || mapped->kept_shared) return;
  GstMemory *memory = mapped->kept;
  gboolean in_buffer = FALSE;
  guint count = gst_buffer_n_memory(buffer), index = 0;
  for (; index < count && !in_buffer; index++)
    in_buffer = gst_buffer_peek_memory(buffer, index) == memory;
  gboolean replaced = FALSE;
  if (in_buffer && mapped->writable && gst_buffer_is_writable(buffer)) {
    GstMemory *copy = gst_memory_copy(memory, 0, -1);
    if (copy != NULL) {
      gst_buffer_replace_memory(buffer, index - 1, copy);
      replaced = TRUE;
    }
  }
  if (!replaced)
    mapped->kept_shared = gst_mini_object_lock(GST_MINI_OBJECT_CAST(memory), GST_LOCK_FLAG_EXCLUSIVE);
  GstMapFlags flags = replaced ? (GstMapFlags)(GST_MAP_READ | GST_MAP_WRITE) : GST_MAP_READ;
  mapped->kept_mapped = gst_memory_map(memory, &mapped->kept_info, flags);
}

static void mapped_buffer_dealloc(PyObject *self) {
  MappedBuffer *mapped = (MappedBuffer *)self;
  mapped_buffer_unmap_buffer(mapped);
  if (mapped->kept != NULL) {
    if (mapped->kept_mapped) gst_memory_unmap(mapped->kept, &mapped->kept_info);
    if (mapped->kept_shared)
      gst_mini_object_unlock(GST_MINI_OBJECT_CAST(mapped->kept), GST_LOCK_FLAG_EXCLUSIVE);
    gst_memory_unref(mapped->kept);
  }
  Py_TYPE(self)->tp_free(self);
}

static PyBufferProcs mapped_buffer_as_buffer = {.bf_getbuffer = mapped_buffer_get};

static PyMethodDef mapped_buffer_methods[] = {
    {"unmap", mapped_buffer_unmap, METH_NOARGS,
     "unmap() -> None\n\nUnmap and let go of the buffer (again: nothing); new views are refused "
     "after it. The memory stays referenced while this object (the base of every view) lives."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MappedBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "empycustom._native.MappedBuffer",
    .tp_basicsize = sizeof(MappedBuffer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A mapped GstBuffer, its bytes lent through the buffer protocol (map_buffer()).",
    .tp_dealloc = mapped_buffer_dealloc,
    .tp_as_buffer = &mapped_buffer_as_buffer,
    .tp_methods = mapped_buffer_methods,
};

/* escape_views(buffer_address, maps): the library call the buffer was lent to has returned;
 * each MappedBuffer of `maps` that something besides the list still holds (a numpy view, an
 * open frame() block) escapes. Clears the list; returns how many escaped. One call per library
 * call: the usual case (no view left) costs a reference count look per map. */
PyObject *escape_views(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("escape_views", nargs, 2) < 0) return NULL;
  GstBuffer *buffer = address_argument(args[0], "buffer");
  if (buffer == NULL) return NULL;
  PyObject *maps = args[1];
  if (!PyList_Check(maps)) return PyErr_Format(PyExc_TypeError, "maps must be a list");
  Py_ssize_t count = PyList_GET_SIZE(maps), escaped = 0;
  for (Py_ssize_t index = 0; index < count; index++) {
    PyObject *item = PyList_GET_ITEM(maps, index);
    if (!PyObject_TypeCheck(item, &MappedBufferType))
      return PyErr_Format(PyExc_TypeError, "maps must hold MappedBuffer objects");
    if (Py_REFCNT(item) > 1) { /* the list's reference, and more */
      mapped_buffer_escape((MappedBuffer *)item, buffer);
      escaped++;
    }
  }
  if (PyList_SetSlice(maps, 0, count, NULL) < 0) return NULL;
  return PyLong_FromSsize_t(escaped);
}

/* The MappedBuffer of `buffer` mapped with `flags` (valid ones); None when writing is asked for
 * and the buffer is not writable; NULL with ValueError when it cannot be mapped. */
static PyObject *map_at(GstBuffer *buffer, long flags) {
  if ((flags & GST_MAP_WRITE) && !gst_mini_object_is_writable(GST_MINI_OBJECT_CAST(buffer)))
    Py_RETURN_NONE;
  MappedBuffer *mapped = PyObject_New(MappedBuffer, &MappedBufferType);
  if (mapped == NULL) return NULL;
  mapped->buffer = NULL;
  mapped->kept = NULL;
  mapped->kept_mapped = mapped->kept_shared = FALSE;
  mapped->writable = (flags & GST_MAP_WRITE) != 0;
  /* Mapped before the reference is taken: a write map needs the buffer's only reference. */
  mapped->mapped = gst_buffer_map(buffer, &mapped->info, (GstMapFlags)flags);
  if (!mapped->mapped) {
    Py_DECREF(mapped);
    PyErr_SetString(PyExc_ValueError, "the buffer could not be mapped");
    return NULL;
  }
  mapped->buffer = gst_buffer_ref(buffer);
  return (PyObject *)mapped;
}


PyObject *map_buffer(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("map_buffer", nargs, 2) < 0) return NULL;
  GstBuffer *buffer = address_argument(args[0], "buffer");
  if (buffer == NULL) return NULL;
  long flags = PyLong_AsLong(args[1]);
  if (flags == -1 && PyErr_Occurred()) return NULL;
  if ((flags & ~(long)(GST_MAP_READ | GST_MAP_WRITE)) || !(flags & (GST_MAP_READ | GST_MAP_WRITE))) {
    PyErr_SetString(PyExc_ValueError, "map_buffer() flags must be MAP_READ, MAP_WRITE or both");
    return NULL;
  }
  return map_at(buffer, flags);
}

/* What frames/views.py gives configure_frames(): its FrameError, Gst.Buffer, the registry of
 * the buffers lent to library calls (frames/maps.py: address -> OpenMaps, whose `frames` list
 * collects the maps made during the call), the cache of plane specs per layout, the Python
 * function that makes the views the first time a layout is seen (and says what is wrong with
 * one), np.ndarray and the uint8 dtype. */
static PyObject *frame_error, *buffer_type, *lent_calls, *plane_specs, *make_views, *ndarray_type,
    *uint8_dtype;
static PyObject *key_frame, *key_format, *key_width, *key_height, *key_planes, *key_stride,
    *key_offset, *key_frames, *key_flags, *key_writeable;

PyObject *configure_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("configure_frames", nargs, 7) < 0) return NULL;
  if (!PyType_Check(args[0]) || !PyType_Check(args[1]) || !PyDict_Check(args[2]) ||
      !PyDict_Check(args[3]) || !PyCallable_Check(args[4]) || !PyType_Check(args[5]))
    return PyErr_Format(PyExc_TypeError, "configure_frames(frame_error, buffer_type, calls, "
                                         "plane_specs, make_views, ndarray, uint8)");
  PyObject **slots[] = {&frame_error, &buffer_type, &lent_calls, &plane_specs,
                        &make_views, &ndarray_type, &uint8_dtype};
  for (int index = 0; index < 7; index++) Py_XSETREF(*slots[index], Py_NewRef(args[index]));
  Py_RETURN_NONE;
}

/* frame(buffer, in_meta, writable): maps at __enter__, unmaps at __exit__. A Python class did
 * the same in about 1.2 us more per frame (64x48 RGBA, with block and one pixel read, in a
 * loop: 2.4 us against 1.2). */
typedef struct {
  PyObject_HEAD
  PyObject *buffer;
  PyObject *layout; /* (format, width, height, (stride, offset) per plane): the specs' key */
  long flags;
  PyObject *mapped; /* the MappedBuffer, while the block is open */
  PyObject *views;  /* the list of numpy views yielded, while the block is open */
} FrameViews;

/* The layout key of the frame in_meta describes (in_meta, or its "frame"[0]), read in the order
 * frame() always read it; NULL with the error set. */
static PyObject *frame_layout(PyObject *in_meta) {
  PyObject *description, *planes, *items, *layout = NULL;
  int has_frame = PySequence_Contains(in_meta, key_frame);
  if (has_frame < 0) return NULL;
  if (has_frame) {
    PyObject *frames = PyObject_GetItem(in_meta, key_frame);
    if (frames == NULL) return NULL;
    description = PySequence_GetItem(frames, 0);
    Py_DECREF(frames);
    if (description == NULL) return NULL;
  } else {
    description = Py_NewRef(in_meta);
  }
  if ((planes = PyObject_GetItem(description, key_planes)) == NULL) goto done;
  items = PySequence_Fast(planes, "'planes' is not iterable");
  Py_DECREF(planes);
  if (items == NULL) goto done;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(items);
  if ((layout = PyTuple_New(3 + count)) == NULL) goto items_done;
  for (Py_ssize_t index = 0; index < count; index++) {
    PyObject *plane = PySequence_Fast_GET_ITEM(items, index), *offset = NULL, *pair = NULL;
    PyObject *stride = PyObject_GetItem(plane, key_stride);
    if (stride != NULL && (offset = PyObject_GetItem(plane, key_offset)) != NULL)
      pair = PyTuple_Pack(2, stride, offset);
    Py_XDECREF(stride);
    Py_XDECREF(offset);
    if (pair == NULL) goto failed;
    PyTuple_SET_ITEM(layout, 3 + index, pair);
  }
  PyObject *fields[] = {key_format, key_width, key_height};
  for (int index = 0; index < 3; index++) {
    PyObject *value = PyObject_GetItem(description, fields[index]);
    if (value == NULL) goto failed;
    PyTuple_SET_ITEM(layout, index, value);
  }
  goto items_done;
failed:
  Py_CLEAR(layout);
items_done:
  Py_DECREF(items);
done:
  Py_DECREF(description);
  return layout;
}

static PyObject *frame_views_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
  PyObject *buffer, *in_meta;
  long flags;
  static char *names[] = {"buffer", "in_meta", "flags", NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOl:FrameViews", names, &buffer, &in_meta,
                                   &flags))
    return NULL;
  if (frame_error == NULL)
    return PyErr_Format(PyExc_RuntimeError, "configure_frames() has not been called");
  PyObject *layout = frame_layout(in_meta);
  if (layout == NULL) {
    if (!PyErr_ExceptionMatches(PyExc_KeyError) && !PyErr_ExceptionMatches(PyExc_IndexError) &&
        !PyErr_ExceptionMatches(PyExc_TypeError))
      return NULL;
    PyObject *kind, *error, *traceback;
    PyErr_Fetch(&kind, &error, &traceback);
    PyErr_NormalizeException(&kind, &error, &traceback);
    PyObject *name = PyType_GetName((PyTypeObject *)kind);
    if (name != NULL)
      PyErr_Format(frame_error,
                   "in_meta does not describe the frame (%U: %S): pass the in_meta dict the "
                   "element gave the library",
                   name, error);
    Py_XDECREF(name);
    Py_XDECREF(kind);
    Py_XDECREF(error);
    Py_XDECREF(traceback);
    return NULL;
  }
  FrameViews *self = PyObject_GC_New(FrameViews, type);
  if (self == NULL) {
    Py_DECREF(layout);
    return NULL;
  }
  self->buffer = Py_NewRef(buffer);
  self->layout = layout;
  self->flags = flags;
  self->mapped = self->views = NULL;
  PyObject_GC_Track(self);
  return (PyObject *)self;
}

static PyObject *frame_views_error(const char *text) {
  PyErr_SetString(frame_error, text);
  return NULL;
}

/* The numpy views of `mapped` for `layout`: from the cached specs (shape, offset, strides) of
 * each plane, else (a layout not seen yet, unhashable, or too large for the buffer) as
 * make_views() makes them, which caches the specs or says what is wrong. */
static PyObject *frame_views_of(PyObject *mapped, PyObject *layout) {
  PyObject *specs = PyDict_GetItemWithError(plane_specs, layout); /* borrowed */
  if (specs == NULL) PyErr_Clear();
  if (specs != NULL && PyList_CheckExact(specs)) {
    Py_ssize_t count = PyList_GET_SIZE(specs);
    PyObject *views = PyList_New(count);
    if (views == NULL) return NULL;
    Py_INCREF(specs); /* a view's creation runs Python code that could clear the cache */
    Py_ssize_t index = 0;
    for (; index < count; index++) {
      PyObject *spec = PyList_GET_ITEM(specs, index);
      if (!PyTuple_CheckExact(spec) || PyTuple_GET_SIZE(spec) != 3) break;
      PyObject *arguments[] = {PyTuple_GET_ITEM(spec, 0), uint8_dtype, mapped,
                               PyTuple_GET_ITEM(spec, 1), PyTuple_GET_ITEM(spec, 2)};
      PyObject *view = PyObject_Vectorcall(ndarray_type, arguments, 5, NULL);
      if (view == NULL) break;
      PyList_SET_ITEM(views, index, view);
    }
    Py_DECREF(specs);
    if (index == count) return views;
    Py_DECREF(views);
    if (PyErr_Occurred()) {
      if (!PyErr_ExceptionMatches(PyExc_TypeError) && !PyErr_ExceptionMatches(PyExc_ValueError))
        return NULL;
      PyErr_Clear();
    }
  }
  return PyObject_CallFunctionObjArgs(make_views, mapped, layout, NULL);
}

/* Records a map made while `address`'s buffer is lent to a library call (frames/maps.py), so
 * that its views are settled when the call returns. */
static int note_frame_map(Py_hash_t address, PyObject *mapped) {
  PyObject *key = PyLong_FromSsize_t(address);
  if (key == NULL) return -1;
  PyObject *call = PyDict_GetItemWithError(lent_calls, key); /* borrowed */
  Py_DECREF(key);
  if (call == NULL) return PyErr_Occurred() ? -1 : 0;
  PyObject *frames = PyObject_GetAttr(call, key_frames);
  if (frames == NULL) return -1;
  int result = PyList_Append(frames, mapped);
  Py_DECREF(frames);
  return result;
}

static PyObject *frame_views_enter(PyObject *object, PyObject *unused) {
  FrameViews *self = (FrameViews *)object;
  if (self->mapped != NULL)
    return frame_views_error("frame() views are already mapped: use one with block per frame()");
  if (!PyObject_TypeCheck(self->buffer, (PyTypeObject *)buffer_type)) {
    PyObject *name = PyType_GetName(Py_TYPE(self->buffer));
    if (name != NULL) PyErr_Format(frame_error, "expected a Gst.Buffer, got %U", name);
    Py_XDECREF(name);
    return NULL;
  }
  Py_hash_t address = PyObject_Hash(self->buffer); /* the GstBuffer's address */
  if (address == -1) return NULL;
  PyObject *mapped = map_at((GstBuffer *)address, self->flags);
  if (mapped == NULL) {
    if (!PyErr_ExceptionMatches(PyExc_ValueError)) return NULL;
    PyErr_Clear();
    return frame_views_error(self->flags & GST_MAP_WRITE
                                 ? "the buffer could not be mapped for writing"
                                 : "the buffer could not be mapped for reading");
  }
  if (mapped == Py_None) {
    Py_DECREF(mapped);
    return frame_views_error("frame(writable=True) needs a writable buffer: write in process_ip() "
                             "(in-place=true), or return a new frame from process()");
  }
  PyObject *views = NULL;
  if (note_frame_map(address, mapped) < 0 || (views = frame_views_of(mapped, self->layout)) == NULL) {
    mapped_buffer_unmap_buffer((MappedBuffer *)mapped);
    Py_DECREF(mapped);
    return NULL;
  }
  if (!PyList_CheckExact(views) || PyList_GET_SIZE(views) == 0) {
    Py_DECREF(views);
    mapped_buffer_unmap_buffer((MappedBuffer *)mapped);
    Py_DECREF(mapped);
    return PyErr_Format(PyExc_SystemError, "make_views() must return a non-empty list");
  }
  self->mapped = mapped;
  self->views = views;
  /* Packed formats have one plane, planar ones (I420, NV12) two or three: a tuple of them. */
  if (PyList_GET_SIZE(views) > 1) return PyList_AsTuple(views);
  return Py_NewRef(PyList_GET_ITEM(views, 0));
}

/* The views yielded become read-only, the buffer is unmapped (views kept still point into
 * memory the MappedBuffer keeps alive). */
static PyObject *frame_views_exit(PyObject *object, PyObject *const *args, Py_ssize_t nargs) {
  FrameViews *self = (FrameViews *)object;
  PyObject *views = self->views, *mapped = self->mapped;
  self->views = self->mapped = NULL;
  int failed = 0;
  for (Py_ssize_t index = 0; views != NULL && index < PyList_GET_SIZE(views) && !failed; index++) {
    PyObject *flags = PyObject_GetAttr(PyList_GET_ITEM(views, index), key_flags);
    failed = flags == NULL || PyObject_SetAttr(flags, key_writeable, Py_False) < 0;
    Py_XDECREF(flags);
  }
  Py_XDECREF(views);
  if (mapped != NULL) {
    mapped_buffer_unmap_buffer((MappedBuffer *)mapped);
    Py_DECREF(mapped);
  }
  if (failed) return NULL;
  Py_RETURN_NONE;
}

static int frame_views_traverse(PyObject *object, visitproc visit, void *arg) {
  FrameViews *self = (FrameViews *)object;
  Py_VISIT(self->buffer);
  Py_VISIT(self->layout);
  Py_VISIT(self->mapped);
  Py_VISIT(self->views);
  return 0;
}

static int frame_views_clear(PyObject *object) {
  FrameViews *self = (FrameViews *)object;
  Py_CLEAR(self->buffer);
  Py_CLEAR(self->layout);
  Py_CLEAR(self->mapped);
  Py_CLEAR(self->views);
  return 0;
}

static void frame_views_dealloc(PyObject *object) {
  PyObject_GC_UnTrack(object);
  frame_views_clear(object);
  PyObject_GC_Del(object);
}

static PyMethodDef frame_views_methods[] = {
    {"__enter__", frame_views_enter, METH_NOARGS,
     "Map the buffer; return the view (packed formats) or the tuple of plane views."},
    {"__exit__", (PyCFunction)(void (*)(void))frame_views_exit, METH_FASTCALL,
     "Make the views yielded read-only and unmap the buffer."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FrameViewsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "empycustom._native.FrameViews",
    .tp_basicsize = sizeof(FrameViews),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "FrameViews(buffer, in_meta, flags): what empycustom.frame() returns, a context "
              "manager mapping the buffer for the with block (frames/views.py).",
    .tp_new = frame_views_new,
    .tp_dealloc = frame_views_dealloc,
    .tp_traverse = frame_views_traverse,
    .tp_clear = frame_views_clear,
    .tp_methods = frame_views_methods,
};

int add_frame_types(PyObject *module) {
  if (intern(&key_frame, "frame") || intern(&key_format, "format") || intern(&key_width, "width") ||
      intern(&key_height, "height") || intern(&key_planes, "planes") ||
      intern(&key_stride, "stride") || intern(&key_offset, "offset") ||
      intern(&key_frames, "frames") || intern(&key_flags, "flags") ||
      intern(&key_writeable, "writeable"))
    return -1;
  if (PyType_Ready(&MappedBufferType) < 0 || PyType_Ready(&FrameViewsType) < 0) return -1;
  if (PyModule_AddType(module, &MappedBufferType) < 0 ||
      PyModule_AddType(module, &FrameViewsType) < 0)
    return -1;
  return 0;
}

/* empycustom._native: the per-object metadata path in C.
 *
 * Reads every GstVideoRegionOfInterestMeta of a buffer into in_meta object dicts, writes each
 * object's result back onto its ROI as an "emcustom" param, and reads/writes the frame's merged
 * JSON carried as a GstCustomMeta. Doing this through ctypes cost several foreign calls per
 * object; here one call handles a whole buffer. Buffers and ROI metas are passed as C addresses
 * (hash() of a PyGObject boxed object is its pointer). Every function Python calls runs with
 * the GIL held. It also holds the element's transform_ip/transform vfuncs (install_transforms;
 * they take the GIL themselves), the slow-call watch's record (CallSlot) and the per-buffer
 * registrations the element makes.
 */
#include "_native.h"
#include <structmember.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/base/gstbasetransform.h>
#include <string.h>
#include <time.h>
#if PY_VERSION_HEX >= 0x030D0000
#define _Py_IsFinalizing Py_IsFinalizing /* public from Python 3.13 on */
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define RESULT_PARAM "emcustom"
#define DETECTION_PARAM "detection"
#define JSON_FIELD "json"
#define CUSTOM_META_NAME "EmPyCustomMeta"
#define NOT_WRITABLE "cannot attach metadata to a buffer that is not writable"

static GType roi_api;
static GQuark json_quark, result_quark;

/* Interned dict keys and shared constants, made once at import. */
static PyObject *key_object_id, *key_parent_id, *key_class_id, *key_obj_label, *key_confidence,
    *key_rect_params, *key_params, *key_left, *key_top, *key_width, *key_height, *key_label_id,
    *key_json, *key_detection, *unknown_class_id, *unknown_confidence;
/* An object dict and a rect_params dict with their keys in order: copied, then filled, they
 * are built without growing their tables as the keys come in. */
static PyObject *object_template, *rect_template;

static PyObject *gvalue_to_python(const GValue *value);

int expect_arguments(const char *function, Py_ssize_t given, Py_ssize_t expected) {
  if (given == expected) return 0;
  PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", function, expected, given);
  return -1;
}

/* UTF-8 text as str (invalid bytes replaced), NULL as None. */
static PyObject *text_or_none(const char *text) {
  if (text == NULL) Py_RETURN_NONE;
  return PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
}

/* The str of a GQuark (a new reference). Quarks live as long as the process and count up from
 * 1, so the strs of the first ones are kept in an array indexed by quark. They are interned:
 * a field name is then the very object of the module's key of that name (key_label_id...),
 * and a dict look-up with that key stops at the identity check (no string comparison). */
#define CACHED_QUARKS 65536
static PyObject **quark_strs;
static GQuark quark_strs_size;

static PyObject *quark_str(GQuark quark) {
  if (quark >= CACHED_QUARKS) return text_or_none(g_quark_to_string(quark));
  if (quark >= quark_strs_size) {
    GQuark size = MAX(quark + 1, MIN(quark_strs_size * 2, CACHED_QUARKS));
    PyObject **strs = PyMem_Realloc(quark_strs, size * sizeof *strs);
    if (strs == NULL) return PyErr_NoMemory();
    memset(strs + quark_strs_size, 0, (size - quark_strs_size) * sizeof *strs);
    quark_strs = strs;
    quark_strs_size = size;
  }
  if (quark_strs[quark] == NULL) {
    quark_strs[quark] = quark ? text_or_none(g_quark_to_string(quark)) : PyUnicode_FromString("");
    if (quark_strs[quark] == NULL) return NULL;
    PyUnicode_InternInPlace(&quark_strs[quark]);
  }
  return Py_NewRef(quark_strs[quark]);
}

void *address_argument(PyObject *value, const char *what) {
  void *address = PyLong_AsVoidPtr(value);
  if (address == NULL && !PyErr_Occurred())
    PyErr_Format(PyExc_ValueError, "%s address is NULL", what);
  return address;
}

static gboolean add_field(GQuark field, const GValue *value, gpointer user_data) {
  PyObject *key = quark_str(field);
  if (key == NULL) return FALSE;
  PyObject *item = gvalue_to_python(value);
  int failed = item == NULL || PyDict_SetItem((PyObject *)user_data, key, item) < 0;
  Py_DECREF(key);
  Py_XDECREF(item);
  return !failed;
}

static PyObject *structure_to_dict(const GstStructure *structure) {
  PyObject *values = PyDict_New();
  if (values != NULL && !gst_structure_foreach(structure, add_field, values)) Py_CLEAR(values);
  return values;
}

/* A GstValueArray or GstValueList as a list. */
static PyObject *values_to_list(const GValue *value, guint (*size)(const GValue *),
                                const GValue *(*nth)(const GValue *, guint)) {
  guint count = size(value);
  PyObject *items = PyList_New(count);
  for (guint index = 0; items != NULL && index < count; index++) {
    PyObject *item = gvalue_to_python(nth(value, index));
    if (item == NULL) Py_CLEAR(items);
    else PyList_SET_ITEM(items, index, item);
  }
  return items;
}

/* A GValue as plain data: numbers, strings, structures as dicts, arrays and lists as lists;
 * other types as their GStreamer serialization (e.g. fractions as "30/1"). */
static PyObject *gvalue_to_python(const GValue *value) {
  GType type = G_VALUE_TYPE(value);
  switch (type) {
    case G_TYPE_BOOLEAN: return PyBool_FromLong(g_value_get_boolean(value));
    case G_TYPE_CHAR: return PyLong_FromLong(g_value_get_schar(value));
    case G_TYPE_UCHAR: return PyLong_FromLong(g_value_get_uchar(value));
    case G_TYPE_INT: return PyLong_FromLong(g_value_get_int(value));
    case G_TYPE_UINT: return PyLong_FromUnsignedLong(g_value_get_uint(value));
    case G_TYPE_LONG: return PyLong_FromLong(g_value_get_long(value));
    case G_TYPE_ULONG: return PyLong_FromUnsignedLong(g_value_get_ulong(value));
    case G_TYPE_INT64: return PyLong_FromLongLong(g_value_get_int64(value));
    case G_TYPE_UINT64: return PyLong_FromUnsignedLongLong(g_value_get_uint64(value));
    case G_TYPE_FLOAT: return PyFloat_FromDouble(g_value_get_float(value));
    case G_TYPE_DOUBLE: return PyFloat_FromDouble(g_value_get_double(value));
    case G_TYPE_STRING: return text_or_none(g_value_get_string(value));
    default: break;
  }
  if (type == GST_TYPE_STRUCTURE || type == GST_TYPE_ARRAY || type == GST_TYPE_LIST) {
    if (Py_EnterRecursiveCall(" while converting a nested GStreamer value")) return NULL;
    PyObject *nested;
    if (type == GST_TYPE_ARRAY) {
      nested = values_to_list(value, gst_value_array_get_size, gst_value_array_get_value);
    } else if (type == GST_TYPE_LIST) {
      nested = values_to_list(value, gst_value_list_get_size, gst_value_list_get_value);
    } else {
      const GstStructure *structure = gst_value_get_structure(value);
      nested = structure ? structure_to_dict(structure) : Py_NewRef(Py_None);
    }
    Py_LeaveRecursiveCall();
    return nested;
  }
  gchar *serialized = gst_value_serialize(value);
  PyObject *result = text_or_none(serialized);
  g_free(serialized);
  return result;
}

/* An "emcustom" param shows the result it carries: decode(param["json"]); one that is not our
 * JSON (no str "json" field, or decode raises ValueError) stays as its dict. */
static PyObject *decoded_result(PyObject *param, PyObject *decode) {
  PyObject *text = PyDict_GetItemWithError(param, key_json);
  if (text == NULL || !PyUnicode_Check(text)) return PyErr_Occurred() ? NULL : Py_NewRef(param);
  PyObject *result = PyObject_CallOneArg(decode, text);
  if (result == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
    PyErr_Clear();
    return Py_NewRef(param);
  }
  return result;
}

/* The param structures of a ROI as {name: dict}; the first of a name wins. */
static PyObject *params_to_dict(const GList *link, PyObject *decode) {
  PyObject *params = PyDict_New();
  for (; params != NULL && link != NULL; link = link->next) {
    const GstStructure *structure = link->data;
    PyObject *name = quark_str(gst_structure_get_name_id(structure));
    int present = name == NULL ? -1 : PyDict_Contains(params, name);
    if (present == 0) {
      PyObject *value = structure_to_dict(structure);
      if (value != NULL && gst_structure_has_name(structure, RESULT_PARAM))
        Py_SETREF(value, decoded_result(value, decode));
      if (value == NULL || PyDict_SetItem(params, name, value) < 0) present = -1;
      Py_XDECREF(value);
    }
    Py_XDECREF(name);
    if (present < 0) Py_CLEAR(params);
  }
  return params;
}

/* class_id and confidence from a "detection" param's label_id (an int) and confidence (a
 * number); they keep what the caller passed (new references) when the param lacks them. */
static int detection_values(PyObject *params, PyObject **class_id, PyObject **confidence) {
  PyObject *detection = PyDict_GetItemWithError(params, key_detection);
  if (detection == NULL || !PyDict_Check(detection)) return PyErr_Occurred() ? -1 : 0;
  PyObject *label_id = PyDict_GetItemWithError(detection, key_label_id);
  if (label_id == NULL && PyErr_Occurred()) return -1;
  if (label_id != NULL && PyLong_Check(label_id)) Py_SETREF(*class_id, Py_NewRef(label_id));
  PyObject *score = PyDict_GetItemWithError(detection, key_confidence);
  if (score == NULL) return PyErr_Occurred() ? -1 : 0;
  if (PyFloat_CheckExact(score)) {
    Py_SETREF(*confidence, Py_NewRef(score));
  } else if (PyLong_Check(score) || PyFloat_Check(score)) {
    PyObject *number = PyNumber_Float(score);
    if (number == NULL) return -1;
    Py_SETREF(*confidence, number);
  }
  return 0;
}

static PyObject *rect_dict(const GstVideoRegionOfInterestMeta *roi) {
  PyObject *rect = PyDict_Copy(rect_template);
  PyObject *keys[] = {key_left, key_top, key_width, key_height};
  guint values[] = {roi->x, roi->y, roi->w, roi->h};
  for (int index = 0; rect != NULL && index < 4; index++) {
    PyObject *number = PyLong_FromUnsignedLong(values[index]);
    if (number == NULL || PyDict_SetItem(rect, keys[index], number) < 0) Py_CLEAR(rect);
    Py_XDECREF(number);
  }
  return rect;
}

/* One in_meta object dict for a ROI meta. */
static PyObject *roi_object(const GstVideoRegionOfInterestMeta *roi, PyObject *label_ids,
                            PyObject *decode) {
  PyObject *object = NULL;
  PyObject *label = quark_str(roi->roi_type);
  PyObject *params = roi->params ? params_to_dict(roi->params, decode) : PyDict_New();
  PyObject *class_id = NULL;
  PyObject *confidence = Py_NewRef(unknown_confidence);
  PyObject *rect = rect_dict(roi);
  PyObject *object_id = PyLong_FromLong(roi->id);
  PyObject *parent_id = PyLong_FromLong(roi->parent_id);
  if (label == NULL || params == NULL || rect == NULL || object_id == NULL || parent_id == NULL)
    goto done;
  class_id = PyDict_GetItemWithError(label_ids, label);
  if (class_id == NULL && PyErr_Occurred()) goto done;
  class_id = Py_NewRef(class_id ? class_id : unknown_class_id);
  if (detection_values(params, &class_id, &confidence) < 0) goto done;

  object = PyDict_Copy(object_template);
  PyObject *keys[] = {key_object_id, key_parent_id, key_class_id, key_obj_label,
                      key_confidence, key_rect_params, key_params};
  PyObject *values[] = {object_id, parent_id, class_id, label, confidence, rect, params};
  for (int index = 0; object != NULL && index < 7; index++) {
    if (PyDict_SetItem(object, keys[index], values[index]) < 0) Py_CLEAR(object);
  }
done:
  Py_XDECREF(label);
  Py_XDECREF(params);
  Py_XDECREF(class_id);
  Py_XDECREF(confidence);
  Py_XDECREF(rect);
  Py_XDECREF(object_id);
  Py_XDECREF(parent_id);
  return object;
}

/* The objects and ROI meta addresses of a buffer's ROI metas (see read_rois); -1 on error. */
static int collect_rois(GstBuffer *buffer, PyObject *label_ids, PyObject *decode,
                        PyObject **objects_out, PyObject **addresses_out) {
  /* Looked up once GStreamer is surely initialised (there is a buffer): registered before
   * gst_init(), the ROI meta API type would miss its tags and crash elements transforming it. */
  if (roi_api == 0) roi_api = GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE;
  PyObject *objects = PyList_New(0);
  PyObject *addresses = PyList_New(0);
  gpointer state = NULL;
  GstMeta *meta;
  while (objects != NULL && addresses != NULL &&
         (meta = gst_buffer_iterate_meta_filtered(buffer, &state, roi_api)) != NULL) {
    PyObject *object = roi_object((GstVideoRegionOfInterestMeta *)meta, label_ids, decode);
    PyObject *address = object ? PyLong_FromVoidPtr(meta) : NULL;
    if (address == NULL || PyList_Append(objects, object) < 0 ||
        PyList_Append(addresses, address) < 0) {
      Py_CLEAR(objects);
    }
    Py_XDECREF(object);
    Py_XDECREF(address);
  }
  if (objects == NULL || addresses == NULL) {
    Py_XDECREF(objects);
    Py_XDECREF(addresses);
    return -1;
  }
  *objects_out = objects;
  *addresses_out = addresses;
  return 0;
}

static int check_roi_arguments(PyObject *label_ids, PyObject *decode) {
  if (!PyDict_Check(label_ids)) {
    PyErr_Format(PyExc_TypeError, "label_ids must be a dict");
    return -1;
  }
  if (!PyCallable_Check(decode)) {
    PyErr_Format(PyExc_TypeError, "decode must be callable");
    return -1;
  }
  return 0;
}

static PyObject *read_rois(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("read_rois", nargs, 3) < 0) return NULL;
  GstBuffer *buffer = address_argument(args[0], "buffer");
  if (buffer == NULL) return NULL;
  if (check_roi_arguments(args[1], args[2]) < 0) return NULL;
  PyObject *objects, *addresses;
  if (collect_rois(buffer, args[1], args[2], &objects, &addresses) < 0) return NULL;
  return Py_BuildValue("(NN)", objects, addresses);
}

/* A copy of size bytes of text, NUL-terminated. */
static gchar *copy_text(const char *text, Py_ssize_t size) {
  gchar *copy = g_malloc((gsize)size + 1);
  memcpy(copy, text, (size_t)size);
  copy[size] = '\0';
  return copy;
}

/* Set a string field of a writable structure to text, which the caller knows is valid UTF-8
 * (a Python str's UTF-8). gst_structure_id_take_value() validates every string it sets again
 * (g_utf8_validate, about 1 ns a byte here: 50 us for a 50 kB meta); a NULL string is not
 * validated, so the field is set to NULL once and its value then takes the text in place.
 * (Taken as a GValue, not through gst_structure_id_set(), whose varargs cost ~200
 * instructions: once per object for the results on ROI metas.) */
static void set_valid_text(GstStructure *structure, GQuark field, const char *text,
                           Py_ssize_t size) {
  const GValue *stored = gst_structure_id_get_value(structure, field);
  if (stored == NULL || !G_VALUE_HOLDS_STRING(stored)) {
    GValue no_text = G_VALUE_INIT;
    g_value_init(&no_text, G_TYPE_STRING);
    gst_structure_id_take_value(structure, field, &no_text);
    stored = gst_structure_id_get_value(structure, field);
  }
  g_value_take_string((GValue *)stored, copy_text(text, size));
}

/* Set (replacing) or add the "emcustom" param of a ROI, json=text (valid UTF-8). Names are
 * compared as quarks: gst_video_region_of_interest_meta_get_param() and
 * gst_structure_new_empty() look the name's string up (about 250 instructions a ROI). */
static void set_result(GstVideoRegionOfInterestMeta *roi, const char *text, Py_ssize_t size) {
  GstStructure *param = NULL;
  for (GList *link = roi->params; link != NULL && param == NULL; link = link->next)
    if (gst_structure_get_name_id(link->data) == result_quark) param = link->data;
  if (param != NULL) {
    set_valid_text(param, json_quark, text, size);
  } else {
    param = gst_structure_new_id_empty(result_quark);
    set_valid_text(param, json_quark, text, size);
    gst_video_region_of_interest_meta_add_param(roi, param);
  }
}

/* JSON whitespace. */
static int is_blank(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* The end of the JSON value starting at text[start] (an object, array, string or scalar), for
 * text known to be valid JSON: strings are skipped with their escapes, brackets counted. */
static Py_ssize_t json_value_end(const char *text, Py_ssize_t size, Py_ssize_t start) {
  int depth = 0;
  Py_ssize_t index = start;
  for (; index < size; index++) {
    char c = text[index];
    if (c == '"') {
      for (index++; index < size && text[index] != '"'; index++)
        if (text[index] == '\\') index++;
      if (depth == 0) return index + 1;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return index; /* the end of the enclosing array */
      if (--depth == 0) return index + 1;
    } else if (depth == 0 && (c == ',' || is_blank(c))) {
      return index;
    }
  }
  return index;
}

static Py_ssize_t skip_blanks(const char *text, Py_ssize_t size, Py_ssize_t index) {
  while (index < size && is_blank(text[index])) index++;
  return index;
}

/* write_results(roi_addresses, results_json): element i of the JSON array goes onto ROI i. */
static PyObject *write_results(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("write_results", nargs, 2) < 0) return NULL;
  PyObject *rois = PySequence_Fast(args[0], "roi_addresses must be a sequence");
  if (rois == NULL) return NULL;
  const char *text = NULL;
  Py_ssize_t size = 0, index = 0;
  if (PyBytes_Check(args[1])) {
    text = PyBytes_AS_STRING(args[1]);
    size = PyBytes_GET_SIZE(args[1]);
    if (!g_utf8_validate(text, size, NULL)) {
      PyErr_SetString(PyExc_ValueError, "results_json is not valid UTF-8");
      text = NULL;
    }
  } else if (PyUnicode_Check(args[1])) {
    text = PyUnicode_AsUTF8AndSize(args[1], &size);
  } else {
    PyErr_Format(PyExc_TypeError, "results_json must be the JSON text of a list, not %.100s",
                 Py_TYPE(args[1])->tp_name);
  }
  if (text != NULL) index = skip_blanks(text, size, 0);
  if (text != NULL && (index >= size || text[index] != '[')) {
    PyErr_SetString(PyExc_ValueError, "results_json must be the JSON text of a list");
    text = NULL;
  }
  if (text == NULL) {
    Py_DECREF(rois);
    return NULL;
  }
  int failed = 0;
  index = skip_blanks(text, size, index + 1);
  for (Py_ssize_t item = 0; !failed && item < PySequence_Fast_GET_SIZE(rois); item++) {
    if (index >= size || text[index] == ']') break;
    Py_ssize_t end = json_value_end(text, size, index);
    PyObject *roi = PySequence_Fast_GET_ITEM(rois, item);
    int empty = end - index == 2 && memcmp(text + index, "{}", 2) == 0; /* nothing for it */
    if (roi != Py_None && !empty) {
      GstVideoRegionOfInterestMeta *meta = address_argument(roi, "ROI meta");
      if (meta == NULL) failed = 1;
      else set_result(meta, text + index, end - index);
    }
    index = skip_blanks(text, size, end);
    if (index < size && text[index] == ',') index = skip_blanks(text, size, index + 1);
  }
  Py_DECREF(rois);
  if (failed) return NULL;
  Py_RETURN_NONE;
}

/* The custom meta's info, looked up by name once it is registered (gst_meta_get_info() takes
 * a lock and a hash look-up, twice a buffer otherwise). */
static const GstMetaInfo *custom_meta_info(void) {
  static const GstMetaInfo *info;
  if (info == NULL) {
    const GstMetaInfo *found = gst_meta_get_info(CUSTOM_META_NAME);
    if (found != NULL && gst_meta_info_is_custom(found)) info = found;
  }
  return info;
}

/* gst_buffer_get_custom_meta(buffer, CUSTOM_META_NAME) with the info looked up once. */
static GstCustomMeta *custom_meta_of(GstBuffer *buffer) {
  const GstMetaInfo *info = custom_meta_info();
  return info == NULL ? NULL : (GstCustomMeta *)gst_buffer_get_meta(buffer, info->api);
}

/* The merged JSON on a buffer as a str, or None. */
static PyObject *meta_json_of(GstBuffer *buffer) {
  GstCustomMeta *meta = custom_meta_of(buffer);
  if (meta == NULL) Py_RETURN_NONE;
  return text_or_none(gst_structure_get_string(gst_custom_meta_get_structure(meta), JSON_FIELD));
}

#define TEXT_TYPES "text must be a str or UTF-8 bytes or bytearray"

/* The UTF-8 of bytes or a bytearray the caller knows is valid (orjson's output, or its copy
 * kept by outmeta.keep_text()): not decoded into a str first. NUL-terminated, as both always
 * are. NULL for any other object. */
static const char *known_utf8(PyObject *text, Py_ssize_t *size) {
  if (PyBytes_Check(text)) {
    *size = PyBytes_GET_SIZE(text);
    return PyBytes_AS_STRING(text);
  }
  if (PyByteArray_Check(text)) {
    *size = PyByteArray_GET_SIZE(text);
    return PyByteArray_AS_STRING(text);
  }
  return NULL;
}

static PyObject *write_meta_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("write_meta_json", nargs, 2) < 0) return NULL;
  GstBuffer *buffer = address_argument(args[0], "buffer");
  if (buffer == NULL) return NULL;
  Py_ssize_t size;
  const char *utf8 = known_utf8(args[1], &size);
  if (utf8 == NULL && !PyUnicode_Check(args[1])) return PyErr_Format(PyExc_TypeError, TEXT_TYPES);
  if (!gst_mini_object_is_writable(GST_MINI_OBJECT_CAST(buffer))) {
    PyErr_SetString(PyExc_ValueError, NOT_WRITABLE);
    return NULL;
  }
  if (utf8 == NULL) utf8 = PyUnicode_AsUTF8AndSize(args[1], &size);
  PyObject *bytes = NULL;  /* only for text with lone surrogates: written as they are */
  if (utf8 == NULL) {
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
    PyErr_Clear();
    bytes = PyUnicode_AsEncodedString(args[1], "utf-8", "surrogatepass");
    if (bytes == NULL) return NULL;
    utf8 = PyBytes_AS_STRING(bytes);
    size = PyBytes_GET_SIZE(bytes);
  }
  GstCustomMeta *meta = custom_meta_of(buffer);
  if (meta == NULL && custom_meta_info() != NULL)
    meta = (GstCustomMeta *)gst_buffer_add_meta(buffer, custom_meta_info(), NULL);
  if (meta == NULL) {
    Py_XDECREF(bytes);
    return PyErr_Format(PyExc_RuntimeError, "the custom meta %s is not registered",
                        CUSTOM_META_NAME);
  }
  GstStructure *structure = gst_custom_meta_get_structure(meta);
  if (bytes == NULL) {
    set_valid_text(structure, json_quark, utf8, size);
  } else { /* not valid UTF-8: GStreamer checks and refuses it as before */
    GValue value = G_VALUE_INIT;
    g_value_init(&value, G_TYPE_STRING);
    g_value_take_string(&value, copy_text(utf8, size));
    gst_structure_id_take_value(structure, json_quark, &value);
  }
  Py_XDECREF(bytes);
  Py_RETURN_NONE;
}

/* refill(array, data): the bytearray's content replaced by the bytes', in place. Slice
 * assignment (array[:] = data) first copies bytes into a new, temporary bytearray. */
static PyObject *refill(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("refill", nargs, 2) < 0) return NULL;
  if (!PyByteArray_Check(args[0]) || !PyBytes_Check(args[1]))
    return PyErr_Format(PyExc_TypeError, "refill() needs a bytearray and bytes");
  Py_ssize_t size = PyBytes_GET_SIZE(args[1]);
  if (PyByteArray_Resize(args[0], size) < 0) return NULL;
  memcpy(PyByteArray_AS_STRING(args[0]), PyBytes_AS_STRING(args[1]), size);
  Py_RETURN_NONE;
}

static PyObject *read_meta_json(PyObject *module, PyObject *address) {
  GstBuffer *buffer = address_argument(address, "buffer");
  if (buffer == NULL) return NULL;
  return meta_json_of(buffer);
}

/* g_signal_has_handler_pending for an object and signal id: whether an emission would reach
 * any handler connected by an application (class handlers do not count). */
static PyObject *has_handler(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("has_handler", nargs, 2) < 0) return NULL;
  GObject *object = address_argument(args[0], "object");
  if (object == NULL) return NULL;
  unsigned long signal_id = PyLong_AsUnsignedLong(args[1]);
  if (signal_id == (unsigned long)-1 && PyErr_Occurred()) return NULL;
  return PyBool_FromLong(g_signal_has_handler_pending(object, (guint)signal_id, 0, FALSE));
}

/* A signal with one string argument and no class handler. Declared in __gsignals__, a signal
 * gets PyGObject's class closure, which looks up a do_<name> method at every emission (raising
 * and clearing an AttributeError when there is none): about 0.8 us per emission. */
static PyObject *add_text_signal(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("add_text_signal", nargs, 2) < 0) return NULL;
  size_t type = PyLong_AsSize_t(args[0]);
  if (type == (size_t)-1 && PyErr_Occurred()) return NULL;
  const char *name = PyUnicode_AsUTF8(args[1]);
  if (name == NULL) return NULL;
  if (!g_type_is_a((GType)type, G_TYPE_OBJECT))
    return PyErr_Format(PyExc_TypeError, "add_text_signal() needs a GObject type");
  if (g_signal_lookup(name, (GType)type) != 0)
    return PyErr_Format(PyExc_ValueError, "%s already has a signal %s", g_type_name(type), name);
  /* Static scope: an emission lends its string to the handlers instead of copying it. */
  guint signal_id = g_signal_new(name, (GType)type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 1, G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE);
  if (signal_id == 0) return PyErr_Format(PyExc_ValueError, "invalid signal name %s", name);
  return PyLong_FromUnsignedLong(signal_id);
}

/* emit_text(object_address, signal_id, text): a signal made by add_text_signal() emitted by its
 * id, with the str's UTF-8 lent to the handlers. PyGObject's emit() looks the signal up by
 * name and copies its arguments into GValues at every call. A Python handler that raises is
 * reported by PyGObject's closure (sys.excepthook), as with emit(). */
/* The object, signal id and text of emit_text()'s arguments, checked; NULL object on error. */
static GObject *text_signal_arguments(const char *function, PyObject *const *args,
                                      Py_ssize_t nargs, guint *signal_id, const char **text) {
  if (expect_arguments(function, nargs, 3) < 0) return NULL;
  GObject *object = address_argument(args[0], "object");
  if (object == NULL) return NULL;
  unsigned long id = PyLong_AsUnsignedLong(args[1]);
  if (id == (unsigned long)-1 && PyErr_Occurred()) return NULL;
  Py_ssize_t size;
  *text = known_utf8(args[2], &size);
  if (*text == NULL && !PyUnicode_Check(args[2])) {
    PyErr_SetString(PyExc_TypeError, TEXT_TYPES);
    return NULL;
  }
  if (*text == NULL && (*text = PyUnicode_AsUTF8(args[2])) == NULL) return NULL;
  GSignalQuery query;
  g_signal_query((guint)id, &query);
  if (query.signal_id == 0 || !g_type_is_a(G_OBJECT_TYPE(object), query.itype) ||
      query.n_params != 1 ||
      (query.param_types[0] & ~G_SIGNAL_TYPE_STATIC_SCOPE) != G_TYPE_STRING) {
    PyErr_Format(PyExc_ValueError, "signal %lu is not a text signal of %s", id,
                 G_OBJECT_TYPE_NAME(object));
    return NULL;
  }
  *signal_id = (guint)id;
  return object;
}

/* Keeps the text lent to an emission's handlers alive and, for a bytearray, where it is (a
 * buffer export: resizing it raises BufferError) until the emission returns. Ended by
 * PyBuffer_Release(). */
static int lend_text(PyObject *text, Py_buffer *loan) {
  if (PyByteArray_Check(text)) return PyObject_GetBuffer(text, loan, PyBUF_SIMPLE);
  loan->obj = Py_NewRef(text);
  return 0;
}

static PyObject *emit_text(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  guint signal_id;
  const char *text;
  GObject *object = text_signal_arguments("emit_text", args, nargs, &signal_id, &text);
  if (object == NULL) return NULL;
  Py_buffer loan;
  if (lend_text(args[2], &loan) < 0) return NULL;
  g_signal_emit(object, signal_id, 0, text);
  PyBuffer_Release(&loan);
  if (PyErr_Occurred()) return NULL;
  Py_RETURN_NONE;
}

/* Handler exceptions of an emission by emit_text_capturing(), for the emitting thread only:
 * PyGObject prints them through sys.excepthook, whose hook (gst/signals.py) hands them here
 * while `capturing` is set. */
static _Thread_local int capturing;
static _Thread_local PyObject *captured;

/* emit_text_capturing(object_address, signal_id, text): emit_text(), returning the tracebacks
 * capture_error() was given during the emission, or None. One call for what took five from
 * Python. */
static PyObject *emit_text_capturing(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  guint signal_id;
  const char *text;
  GObject *object =
      text_signal_arguments("emit_text_capturing", args, nargs, &signal_id, &text);
  if (object == NULL) return NULL;
  Py_buffer loan;
  if (lend_text(args[2], &loan) < 0) return NULL;
  /* Without a handler g_signal_emit() returns at once (its own check costs less than
   * g_signal_has_handler_pending()). */
  int outer_capturing = capturing; /* a handler may emit in its turn */
  PyObject *outer_captured = captured;
  capturing = 1;
  captured = NULL;
  g_signal_emit(object, signal_id, 0, text);
  PyBuffer_Release(&loan);
  PyObject *errors = captured;
  capturing = outer_capturing;
  captured = outer_captured;
  if (PyErr_Occurred()) {
    Py_XDECREF(errors);
    return NULL;
  }
  if (errors == NULL) Py_RETURN_NONE;
  return errors;
}

static PyObject *capturing_errors(PyObject *module, PyObject *unused) {
  return PyBool_FromLong(capturing);
}

static PyObject *capture_error(PyObject *module, PyObject *text) {
  if (!capturing) return PyErr_Format(PyExc_RuntimeError, "no emission is capturing errors");
  if (captured == NULL && (captured = PyList_New(0)) == NULL) return NULL;
  if (PyList_Append(captured, text) < 0) return NULL;
  Py_RETURN_NONE;
}

/* pause_gc() -> bool: disable Python's cyclic collector, returning whether it was enabled. */
static PyObject *pause_gc(PyObject *module, PyObject *unused) {
  return PyBool_FromLong(PyGC_Disable());
}

/* debug_enabled(category, also, level): whether a message at level is logged in category or
 * in also (0: none), as GST_CAT_LEVEL_LOG checks: the global minimum first. */
static PyObject *debug_enabled(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("debug_enabled", nargs, 3) < 0) return NULL;
  long level = PyLong_AsLong(args[2]);
  if (level == -1 && PyErr_Occurred()) return NULL;
  if (level > (long)_gst_debug_min) Py_RETURN_FALSE;
  GstDebugCategory *category = address_argument(args[0], "category");
  if (category == NULL) return NULL;
  if ((long)gst_debug_category_get_threshold(category) >= level) Py_RETURN_TRUE;
  GstDebugCategory *also = PyLong_AsVoidPtr(args[1]);
  if (also == NULL && PyErr_Occurred()) return NULL;
  return PyBool_FromLong(also != NULL && (long)gst_debug_category_get_threshold(also) >= level);
}

/* One function per str character width, so that the loop does not branch on it. */
#define DIGIT_RUN(NAME, CHAR)                                                  \
  static int NAME(const void *data, Py_ssize_t size, Py_ssize_t wanted) {      \
    const CHAR *chars = data;                                                  \
    Py_ssize_t run = 0;                                                        \
    for (Py_ssize_t index = 0; index < size && run < wanted; index++)          \
      run = chars[index] >= '0' && chars[index] <= '9' ? run + 1 : 0;          \
    return run >= wanted;                                                      \
  }
DIGIT_RUN(digit_run_ucs1, Py_UCS1)
DIGIT_RUN(digit_run_ucs2, Py_UCS2)
DIGIT_RUN(digit_run_ucs4, Py_UCS4)

/* has_digit_run(text, length): whether text holds `length` ASCII digits in a row, in one pass
 * (the regular expression \d{19} took 9 ns a character here, more than parsing the JSON). */
static PyObject *has_digit_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("has_digit_run", nargs, 2) < 0) return NULL;
  if (!PyUnicode_Check(args[0])) return PyErr_Format(PyExc_TypeError, "text must be a str");
  Py_ssize_t wanted = PyLong_AsSsize_t(args[1]);
  if (wanted == -1 && PyErr_Occurred()) return NULL;
  if (wanted < 1) return PyErr_Format(PyExc_ValueError, "length must be at least 1");
  PyObject *text = args[0];
  Py_ssize_t size = PyUnicode_GET_LENGTH(text);
  const void *data = PyUnicode_DATA(text);
  int found;
  switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND: found = digit_run_ucs1(data, size, wanted); break;
    case PyUnicode_2BYTE_KIND: found = digit_run_ucs2(data, size, wanted); break;
    default: found = digit_run_ucs4(data, size, wanted); break;
  }
  return PyBool_FromLong(found);
}

/* An enum type for a property, so gst-inspect lists the choices and gst-launch refuses a typo.
 * PyGObject cannot register one from Python (a GObject.GEnum subclass stays plain GEnum). The
 * values are never freed: a registered type lives as long as the process. */
static PyObject *register_enum(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("register_enum", nargs, 2) < 0) return NULL;
  const char *name = PyUnicode_AsUTF8(args[0]);
  if (name == NULL) return NULL;
  GType existing = g_type_from_name(name);
  if (existing != 0) {
    if (!G_TYPE_IS_ENUM(existing))
      return PyErr_Format(PyExc_ValueError, "%s is already a type, not an enum", name);
    return PyLong_FromSize_t(existing);
  }
  PyObject *choices = PySequence_Fast(args[1], "register_enum() needs a sequence of pairs");
  if (choices == NULL) return NULL;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(choices);
  GEnumValue *values = g_new0(GEnumValue, count + 1);
  for (Py_ssize_t index = 0; index < count; index++) {
    const char *nick, *description;
    if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(choices, index), "ss", &nick, &description)) {
      Py_DECREF(choices);
      g_free(values); /* the strings already copied are lost: only after a programming error */
      return NULL;
    }
    values[index].value = (gint)index;
    values[index].value_nick = g_strdup(nick);
    values[index].value_name = g_strdup(description);
  }
  Py_DECREF(choices);
  return PyLong_FromSize_t(g_enum_register_static(g_intern_string(name), values));
}

/* Copying a large output frame with non-temporal stores. The output buffer is written once
 * and not read back here; regular stores first read each destination line into the cache,
 * and an output buffer is seldom there (1080p RGBA: about 1000 us with memcpy, 750 us this
 * way here). glibc only streams above its own threshold (192 MiB on this machine). A frame
 * that fits a core's cache is copied by memcpy: it is read again soon (a worker process's
 * frame is copied into shared memory and back; streamed, both copies went to memory: 320x240
 * RGBA, 65 us less CPU per frame in the element's threads with memcpy). */
#define STREAM_FROM_BYTES (1u << 20)

static void stream_bytes(guint8 *dst, const guint8 *src, size_t size) {
#if defined(__SSE2__)
  if (size < STREAM_FROM_BYTES) {
    memcpy(dst, src, size);
    return;
  }
  size_t head = (16 - ((uintptr_t)dst & 15)) & 15; /* the stores need 16-byte alignment */
  if (head > size) head = size;
  memcpy(dst, src, head);
  size_t index = head;
  for (; index + 64 <= size; index += 64) {
    __m128i a = _mm_loadu_si128((const __m128i *)(src + index));
    __m128i b = _mm_loadu_si128((const __m128i *)(src + index + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(src + index + 32));
    __m128i d = _mm_loadu_si128((const __m128i *)(src + index + 48));
    _mm_stream_si128((__m128i *)(dst + index), a);
    _mm_stream_si128((__m128i *)(dst + index + 16), b);
    _mm_stream_si128((__m128i *)(dst + index + 32), c);
    _mm_stream_si128((__m128i *)(dst + index + 48), d);
  }
  _mm_sfence(); /* the streamed stores are visible before anything that follows */
  memcpy(dst + index, src + index, size - index);
#else
  memcpy(dst, src, size);
#endif
}

static PyObject *stream_copy(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("stream_copy", nargs, 2) < 0) return NULL;
  Py_buffer dst, src;
  if (PyObject_GetBuffer(args[0], &dst, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) return NULL;
  if (PyObject_GetBuffer(args[1], &src, PyBUF_C_CONTIGUOUS) < 0) {
    PyBuffer_Release(&dst);
    return NULL;
  }
  int same_size = dst.len == src.len;
  if (same_size) {
    guint8 *to = dst.buf;
    const guint8 *from = src.buf;
    gboolean overlap = to < from + src.len && from < to + dst.len;
    Py_BEGIN_ALLOW_THREADS
    if (overlap)
      memmove(to, from, (size_t)dst.len);
    else
      stream_bytes(to, from, (size_t)dst.len);
    Py_END_ALLOW_THREADS
  }
  PyBuffer_Release(&src);
  PyBuffer_Release(&dst);
  if (!same_size)
    return PyErr_Format(PyExc_ValueError, "stream_copy() needs buffers of the same size");
  Py_RETURN_NONE;
}

/* A buffer's PTS (GST_CLOCK_TIME_NONE included): GI's field access costs about 1 us. */
static PyObject *buffer_pts(PyObject *module, PyObject *address) {
  GstBuffer *buffer = address_argument(address, "buffer");
  if (buffer == NULL) return NULL;
  return PyLong_FromUnsignedLongLong(GST_BUFFER_PTS(buffer));
}

/* Whether the buffer has a GstAnalyticsRelationMeta (GStreamer >= 1.24), without GI: reading
 * it through GstAnalytics to find none cost about 3,000 instructions a buffer. Until the meta
 * is registered (the first one made registers it), no buffer has one. */
static PyObject *has_analytics_meta(PyObject *module, PyObject *address) {
  static GType api;
  GstBuffer *buffer = address_argument(address, "buffer");
  if (buffer == NULL) return NULL;
  if (api == 0) {
    const GstMetaInfo *info = gst_meta_get_info("GstAnalyticsRelationMeta");
    if (info == NULL) Py_RETURN_FALSE;
    api = info->api;
  }
  return PyBool_FromLong(gst_buffer_get_meta(buffer, api) != NULL);
}

static PyObject *has_video_meta(PyObject *module, PyObject *address) {
  GstBuffer *buffer = address_argument(address, "buffer");
  if (buffer == NULL) return NULL;
  return PyBool_FromLong(gst_buffer_get_video_meta(buffer) != NULL);
}

/* The wall-clock time of `milliseconds` since the epoch as in_meta writes it, ISO 8601 with
 * milliseconds and the UTC offset: 2020-05-13T12:18:47.323-0600. The local time of a second is
 * worked out once (localtime_r and strftime cost more than the rest). */
static PyObject *timestamp_text(long long milliseconds) {
  static long long cached_second = LLONG_MIN;
  static char prefix[64], zone[16];
  long long second = milliseconds / 1000, fraction = milliseconds % 1000;
  if (fraction < 0) {
    fraction += 1000;
    second -= 1;
  }
  if (second != cached_second) {
    time_t when = (time_t)second;
    struct tm local;
    if (localtime_r(&when, &local) == NULL)
      return PyErr_Format(PyExc_OverflowError, "timestamp %lld out of range", second);
    if (strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S", &local) == 0 ||
        strftime(zone, sizeof zone, "%z", &local) == 0)
      zone[0] = '\0';
    cached_second = second;
  }
  /* "%s.%03lld%s" by hand: snprintf cost about 2,000 instructions, more than the rest. */
  char text[96];
  size_t prefix_size = strlen(prefix), zone_size = strlen(zone);
  memcpy(text, prefix, prefix_size);
  char *end = text + prefix_size;
  *end++ = '.';
  *end++ = (char)('0' + fraction / 100);
  *end++ = (char)('0' + fraction / 10 % 10);
  *end++ = (char)('0' + fraction % 10);
  memcpy(end, zone, zone_size);
  end += zone_size;
  return PyUnicode_DecodeUTF8(text, end - text, "replace");
}

static PyObject *wall_clock_timestamp(PyObject *module, PyObject *milliseconds) {
  long long value = PyLong_AsLongLong(milliseconds);
  if (value == -1 && PyErr_Occurred()) return NULL;
  return timestamp_text(value);
}

static PyObject *key_frame, *key_frame_num, *key_buf_pts, *key_timestamp, *key_planes, *key_object;

/* in_meta(buffer_address, frame_num, template, objects): one frame's in_meta,
 * {"frame": [frame]}, where frame is a copy of `template` (the keys of a frame in order, the
 * caps' values) with the buffer's frame_num, buf_pts (None when unset), the wall-clock
 * timestamp, a copy of each plane dict and `objects`. None when the buffer has a GstVideoMeta:
 * its own layout then describes it, not the caps'. */
static PyObject *build_in_meta(GstBuffer *buffer, PyObject *frame_num, PyObject *template,
                               PyObject *objects) {
  if (!PyDict_Check(template)) return PyErr_Format(PyExc_TypeError, "template must be a dict");
  if (gst_buffer_get_video_meta(buffer) != NULL) Py_RETURN_NONE;
  PyObject *template_planes = PyDict_GetItemWithError(template, key_planes);
  if (template_planes == NULL || !PyList_Check(template_planes)) {
    return PyErr_Occurred() ? NULL
                            : PyErr_Format(PyExc_TypeError, "template planes must be a list");
  }
  Py_ssize_t count = PyList_GET_SIZE(template_planes);
  PyObject *planes = PyList_New(count);
  for (Py_ssize_t index = 0; planes != NULL && index < count; index++) {
    PyObject *plane = PyList_GET_ITEM(template_planes, index);
    PyObject *copy = PyDict_Check(plane) ? PyDict_Copy(plane) : NULL;
    if (copy == NULL) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "template planes must be dicts");
      Py_CLEAR(planes);
    } else {
      PyList_SET_ITEM(planes, index, copy);
    }
  }
  GstClockTime pts = GST_BUFFER_PTS(buffer);
  PyObject *buf_pts = GST_CLOCK_TIME_IS_VALID(pts) ? PyLong_FromUnsignedLongLong(pts)
                                                   : Py_NewRef(Py_None);
  PyObject *stamp = timestamp_text((g_get_real_time() + 500) / 1000);
  PyObject *frame = PyDict_Copy(template);
  PyObject *result = NULL;
  if (planes != NULL && buf_pts != NULL && stamp != NULL && frame != NULL &&
      PyDict_SetItem(frame, key_frame_num, frame_num) == 0 &&
      PyDict_SetItem(frame, key_buf_pts, buf_pts) == 0 &&
      PyDict_SetItem(frame, key_timestamp, stamp) == 0 &&
      PyDict_SetItem(frame, key_planes, planes) == 0 &&
      PyDict_SetItem(frame, key_object, objects) == 0) {
    PyObject *frames = PyList_New(1);
    result = frames ? PyDict_New() : NULL;
    if (result != NULL) {
      PyList_SET_ITEM(frames, 0, Py_NewRef(frame));
      if (PyDict_SetItem(result, key_frame, frames) < 0) Py_CLEAR(result);
    }
    Py_XDECREF(frames);
  }
  Py_XDECREF(planes);
  Py_XDECREF(buf_pts);
  Py_XDECREF(stamp);
  Py_XDECREF(frame);
  return result;
}

static PyObject *in_meta(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("in_meta", nargs, 4) < 0) return NULL;
  GstBuffer *buffer = address_argument(args[0], "buffer");
  if (buffer == NULL) return NULL;
  return build_in_meta(buffer, args[1], args[2], args[3]);
}

/* begin_frame(buffer_address, downstream_address, frame_num, template, label_ids, decode): what
 * the element reads before the library call, in one call: (in_meta or None, objects,
 * roi_addresses, upstream merged JSON or None), as in_meta(buffer, ..., objects) and
 * read_rois() and read_meta_json() of the buffer going downstream (the same one in place). */
static PyObject *begin_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("begin_frame", nargs, 6) < 0) return NULL;
  GstBuffer *buffer = address_argument(args[0], "buffer");
  if (buffer == NULL) return NULL;
  GstBuffer *downstream = address_argument(args[1], "downstream buffer");
  if (downstream == NULL) return NULL;
  if (check_roi_arguments(args[4], args[5]) < 0) return NULL;
  PyObject *objects, *addresses;
  if (collect_rois(downstream, args[4], args[5], &objects, &addresses) < 0) return NULL;
  PyObject *meta = build_in_meta(buffer, args[2], args[3], objects);
  PyObject *upstream = meta != NULL ? meta_json_of(downstream) : NULL;
  if (upstream == NULL) {
    Py_XDECREF(meta);
    Py_DECREF(objects);
    Py_DECREF(addresses);
    return NULL;
  }
  PyObject *result = PyTuple_New(4);
  if (result == NULL) {
    Py_DECREF(meta);
    Py_DECREF(objects);
    Py_DECREF(addresses);
    Py_DECREF(upstream);
    return NULL;
  }
  PyTuple_SET_ITEM(result, 0, meta);
  PyTuple_SET_ITEM(result, 1, objects);
  PyTuple_SET_ITEM(result, 2, addresses);
  PyTuple_SET_ITEM(result, 3, upstream);
  return result;
}

/* Keeping a streaming thread's Python thread state.
 *
 * A GStreamer thread has no Python thread state of its own: PyGObject's PyGILState_Ensure()
 * creates one for every callback and PyGILState_Release() deletes it again, with its frame
 * stack (an mmap, a page fault and a munmap each time): 25-30 us per buffer here. Counting
 * one more user of the state keeps it for the thread's life; every later callback then only
 * takes and drops the GIL. Threads that Python made or entered first (their states have a
 * count of their own) are left alone: Python deletes those states itself. */
static void delete_kept_thread_state(gpointer kept) {
  /* The interpreter deletes every state when it finalizes. Python's own thread-local slot may
   * be cleared already when this runs at thread exit, so the state is named explicitly. */
  if (!Py_IsInitialized() || _Py_IsFinalizing()) return;
  PyEval_RestoreThread((PyThreadState *)kept);
  PyThreadState_Clear((PyThreadState *)kept);
  PyThreadState_DeleteCurrent(); /* and drops the GIL */
}

static GPrivate kept_thread_state = G_PRIVATE_INIT(delete_kept_thread_state);

static PyObject *keep_thread_state(PyObject *module, PyObject *unused) {
  if (g_private_get(&kept_thread_state) == NULL) {
    PyThreadState *state = PyThreadState_Get();
    if (state->gilstate_counter == 1) { /* made by the PyGILState_Ensure() of this callback */
      state->gilstate_counter++;        /* so its PyGILState_Release() keeps it */
      g_private_set(&kept_thread_state, state);
    }
  }
  Py_RETURN_NONE;
}

/* A CallWatch's record of the call running (library/watchdog.py). begin() and end() around
 * every library call are two C calls storing a few fields; the watching thread reads them a
 * few times a second. Calls are numbered, so that the one reported as slow is known. */
typedef struct {
  PyObject_HEAD
  PyObject *function, *detail; /* of the call running; NULL when none runs */
  double limit_s, started;     /* started: time.monotonic()'s clock */
  unsigned long thread;        /* threading.get_ident() of the calling thread */
  unsigned long long serial;   /* the number of the call running (or of the last one) */
  unsigned long long reported; /* the number of the last call reported as slow */
} CallSlot;

static double monotonic_s(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static PyObject *call_slot_begin(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("begin", nargs, 3) < 0) return NULL;
  double limit_s = PyFloat_AsDouble(args[1]);
  if (limit_s == -1.0 && PyErr_Occurred()) return NULL;
  if (limit_s > 0) {
    CallSlot *slot = (CallSlot *)self;
    Py_XSETREF(slot->function, Py_NewRef(args[0]));
    Py_XSETREF(slot->detail, Py_NewRef(args[2]));
    slot->limit_s = limit_s;
    slot->thread = PyThread_get_thread_ident();
    slot->started = monotonic_s();
    slot->serial++;
  }
  Py_RETURN_NONE;
}

static PyObject *call_slot_end(PyObject *self, PyObject *unused) {
  CallSlot *slot = (CallSlot *)self;
  if (slot->function == NULL) Py_RETURN_NONE;
  Py_CLEAR(slot->function);
  Py_CLEAR(slot->detail);
  if (slot->reported != slot->serial) Py_RETURN_NONE;
  return PyFloat_FromDouble(monotonic_s() - slot->started);
}

static PyObject *call_slot_current(PyObject *self, PyObject *unused) {
  CallSlot *slot = (CallSlot *)self;
  if (slot->function == NULL) Py_RETURN_NONE;
  return Py_BuildValue("(OOdkdK)", slot->function, slot->detail, slot->limit_s, slot->thread,
                       slot->started, slot->serial);
}

static void call_slot_dealloc(PyObject *self) {
  CallSlot *slot = (CallSlot *)self;
  Py_CLEAR(slot->function);
  Py_CLEAR(slot->detail);
  Py_TYPE(self)->tp_free(self);
}

static PyMethodDef call_slot_methods[] = {
    {"begin", (PyCFunction)(void (*)(void))call_slot_begin, METH_FASTCALL,
     "begin(function, limit_s, detail) -> None\n\n"
     "A call of `function` starts in this thread; `limit_s` <= 0 records nothing."},
    {"end", call_slot_end, METH_NOARGS,
     "end() -> float | None\n\n"
     "The call returned: its duration in seconds if it was reported as slow, else None."},
    {"current", call_slot_current, METH_NOARGS,
     "current() -> (function, detail, limit_s, thread, started, serial) | None\n\n"
     "The call running (started on time.monotonic()'s clock), or None."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef call_slot_members[] = {
    {"reported", T_ULONGLONG, offsetof(CallSlot, reported), 0,
     "The serial of the last call reported as slow (set by the watching thread)."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CallSlotType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "empycustom._native.CallSlot",
    .tp_basicsize = sizeof(CallSlot),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "CallSlot()\n\nThe call of a library function running now, for CallWatch.",
    .tp_new = PyType_GenericNew,
    .tp_dealloc = call_slot_dealloc,
    .tp_methods = call_slot_methods,
    .tp_members = call_slot_members,
};

/* editing.open_frame()'s registration in one call (the element makes it for every buffer):
 * registry[id(in_meta)] = (in_meta, buffer, rois, label_ids). */
static PyObject *open_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("open_frame", nargs, 5) < 0) return NULL;
  if (!PyDict_CheckExact(args[0])) {
    PyErr_SetString(PyExc_TypeError, "open_frame: the registry must be a dict");
    return NULL;
  }
  PyObject *key = PyLong_FromVoidPtr(args[1]);
  PyObject *frame = key != NULL ? PyTuple_Pack(4, args[1], args[2], args[3], args[4]) : NULL;
  int failed = frame == NULL || PyDict_SetItem(args[0], key, frame) < 0;
  Py_XDECREF(frame);
  Py_XDECREF(key);
  if (failed) return NULL;
  Py_RETURN_NONE;
}

/* editing.close_frame()'s: registry.pop(id(in_meta), None). */
static PyObject *close_frame(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("close_frame", nargs, 2) < 0) return NULL;
  if (!PyDict_CheckExact(args[0])) {
    PyErr_SetString(PyExc_TypeError, "close_frame: the registry must be a dict");
    return NULL;
  }
  PyObject *key = PyLong_FromVoidPtr(args[1]);
  if (key == NULL) return NULL;
  PyObject *frame = PyDict_GetItemWithError(args[0], key); /* borrowed */
  int failed = frame == NULL ? PyErr_Occurred() != NULL : PyDict_DelItem(args[0], key) < 0;
  Py_DECREF(key);
  if (failed) return NULL;
  Py_RETURN_NONE;
}

/* transform_ip and transform in C, calling the element's Python methods directly.
 *
 * PyGObject reaches a Python vfunc through a libffi closure that looks each argument up in its
 * GI cache, wraps it, calls the method and converts the FlowReturn back through the enum's GI
 * info: about 4,300 instructions per buffer (measured: noop 41.4k to 37.1k). Here the
 * element's wrapper is taken from its qdata, and the buffer's is made as PyGObject makes it
 * (pygi_boxed_new: it does not own the buffer during the call, so a writable buffer stays
 * writable) and, as PyGObject's cleanup does (pygi_boxed_copy_in_place), takes a reference of
 * its own when the call kept it. The layout (PyGBoxed and PyGIBoxed's two fields, the same in
 * PyGObject 3.42 and 3.50) is checked on a real Gst.Buffer wrapper before the vfuncs are
 * replaced; if it does not match, PyGObject's closures stay. */
typedef struct {
  struct {
    PyObject_HEAD
    gpointer boxed;
    GType gtype;
    gboolean free_on_dealloc;
  } base; /* PyGBoxed */
  gboolean slice_allocated;
  gsize size;
} BoxedWrapper; /* PyGIBoxed */

static PyTypeObject *buffer_wrapper_type, *lent_buffer_type; /* Gst.Buffer, LentBuffer */
static PyObject *transform_ip_method, *transform_method;
static GQuark wrapper_quark;

static PyObject *wrap_buffer(PyTypeObject *type, GstBuffer *buffer) {
  BoxedWrapper *wrapper = (BoxedWrapper *)type->tp_alloc(type, 0);
  if (wrapper == NULL) return NULL;
  wrapper->base.boxed = buffer;
  wrapper->base.gtype = GST_TYPE_BUFFER;
  return (PyObject *)wrapper;
}

static void unwrap_buffer(PyObject *object) {
  BoxedWrapper *wrapper = (BoxedWrapper *)object;
  if (object == NULL) return;
  if (Py_REFCNT(object) > 1 && !wrapper->base.free_on_dealloc && wrapper->base.boxed != NULL) {
    gst_buffer_ref(wrapper->base.boxed); /* a buffer's boxed copy */
    wrapper->base.free_on_dealloc = TRUE;
  }
  Py_DECREF(object);
}

/* What escaped the method (it catches what the library raises): an error naming it, with the
 * Python traceback as its debug text. */
static void report_transform_exception(GstBaseTransform *element, PyObject *method) {
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  PyObject *text = value != NULL ? PyObject_Str(value) : NULL;
  PyObject *lines = NULL, *module = PyImport_ImportModule("traceback");
  if (module != NULL)
    lines = PyObject_CallMethod(module, "format_exception", "OOO", type ? type : Py_None,
                                value ? value : Py_None, traceback ? traceback : Py_None);
  PyObject *empty = PyUnicode_FromString("");
  PyObject *debug = lines != NULL && empty != NULL ? PyUnicode_Join(empty, lines) : NULL;
  const char *message = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
  const char *debug_text = debug != NULL ? PyUnicode_AsUTF8(debug) : NULL;
  PyErr_Clear();
  GST_ELEMENT_ERROR(element, CORE, FAILED,
                    ("%s raised %s: %s", method == transform_method ? "transform" : "transform_ip",
                     type != NULL ? ((PyTypeObject *)type)->tp_name : "an exception",
                     message != NULL ? message : "?"),
                    ("%s", debug_text != NULL ? debug_text : ""));
  Py_XDECREF(debug);
  Py_XDECREF(empty);
  Py_XDECREF(lines);
  Py_XDECREF(module);
  Py_XDECREF(text);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(traceback);
}

static GstFlowReturn call_transform(PyObject *method, GstBaseTransform *element, GstBuffer *inbuf,
                                    GstBuffer *outbuf) {
  if (!Py_IsInitialized() || _Py_IsFinalizing()) return GST_FLOW_FLUSHING;
  PyGILState_STATE gil = PyGILState_Ensure();
  GstFlowReturn flow = GST_FLOW_ERROR;
  PyObject *self = g_object_get_qdata(G_OBJECT(element), wrapper_quark);
  PyObject *in = NULL, *out = NULL, *result = NULL;
  if (self == NULL) {
    GST_ELEMENT_ERROR(element, CORE, FAILED, ("the element has no Python object"), (NULL));
    goto done;
  }
  Py_INCREF(self);
  in = wrap_buffer(lent_buffer_type, inbuf);
  if (in != NULL && outbuf != NULL) out = wrap_buffer(buffer_wrapper_type, outbuf);
  if (in != NULL && (outbuf == NULL || out != NULL)) {
    PyObject *args[3] = {self, in, out};
    result = PyObject_Vectorcall(method, args, outbuf != NULL ? 3 : 2, NULL);
  }
  if (result != NULL) {
    long value = PyLong_AsLong(result);
    if (!(value == -1 && PyErr_Occurred())) flow = (GstFlowReturn)value;
    Py_DECREF(result);
  }
  if (PyErr_Occurred()) report_transform_exception(element, method);
  unwrap_buffer(in);
  unwrap_buffer(out);
  Py_DECREF(self);
done:
  PyGILState_Release(gil);
  return flow;
}

static GstFlowReturn native_transform_ip(GstBaseTransform *element, GstBuffer *buffer) {
  return call_transform(transform_ip_method, element, buffer, NULL);
}

static GstFlowReturn native_transform(GstBaseTransform *element, GstBuffer *inbuf,
                                      GstBuffer *outbuf) {
  return call_transform(transform_method, element, inbuf, outbuf);
}

/* A Gst.Buffer wrapper laid out as BoxedWrapper: gi.Boxed's size, and fields where they are. */
static int is_boxed_wrapper(PyObject *sample, GstBuffer *buffer) {
  PyTypeObject *base = Py_TYPE(sample);
  while (base != NULL && strcmp(base->tp_name, "gi.Boxed") != 0) base = base->tp_base;
  BoxedWrapper *wrapper = (BoxedWrapper *)sample;
  return base != NULL && base->tp_basicsize == (Py_ssize_t)sizeof(BoxedWrapper) &&
         wrapper->base.boxed == (gpointer)buffer && wrapper->base.gtype == GST_TYPE_BUFFER &&
         wrapper->base.free_on_dealloc && !wrapper->slice_allocated && wrapper->size == 0;
}

static PyObject *install_transforms(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("install_transforms", nargs, 6) < 0) return NULL;
  GType type = (GType)PyLong_AsUnsignedLongLong(args[0]);
  if (PyErr_Occurred()) return NULL;
  GstBuffer *buffer = address_argument(args[4], "buffer");
  if (buffer == NULL) return NULL;
  if (!g_type_is_a(type, GST_TYPE_BASE_TRANSFORM)) {
    PyErr_SetString(PyExc_TypeError, "install_transforms: not a GstBaseTransform type");
    return NULL;
  }
  if (!PyCallable_Check(args[1]) || !PyCallable_Check(args[2])) {
    PyErr_SetString(PyExc_TypeError, "install_transforms: the methods must be callable");
    return NULL;
  }
  PyTypeObject *lent = (PyTypeObject *)args[5];
  if (!PyType_Check(args[5]) || !PyType_IsSubtype(lent, Py_TYPE(args[3])) ||
      lent->tp_basicsize != Py_TYPE(args[3])->tp_basicsize) {
    PyErr_SetString(PyExc_TypeError,
                    "install_transforms: the lent type must be a subclass of the sample's type "
                    "adding no fields");
    return NULL;
  }
  if (transform_ip_method != NULL || !is_boxed_wrapper(args[3], buffer)) Py_RETURN_FALSE;
  GstBaseTransformClass *klass = g_type_class_ref(type); /* kept: the class lives on */
  if (klass->transform_ip == NULL || klass->transform == NULL) {
    g_type_class_unref(klass);
    Py_RETURN_FALSE;
  }
  wrapper_quark = g_quark_from_static_string("PyGObject::wrapper");
  buffer_wrapper_type = (PyTypeObject *)Py_NewRef(Py_TYPE(args[3]));
  lent_buffer_type = (PyTypeObject *)Py_NewRef(lent);
  transform_ip_method = Py_NewRef(args[1]);
  transform_method = Py_NewRef(args[2]);
  klass->transform_ip = native_transform_ip;
  klass->transform = native_transform;
  Py_RETURN_TRUE;
}

/* A pad's chain function, so that one replaced from Python (workers > 1 installs its own) can
 * be put back: BaseTransform's is not reachable from Python otherwise. */
static PyObject *pad_chain_function(PyObject *module, PyObject *address) {
  GstPad *pad = address_argument(address, "pad");
  if (pad == NULL) return NULL;
  return PyLong_FromVoidPtr((void *)GST_PAD_CHAINFUNC(pad));
}

static PyObject *set_pad_chain_function(PyObject *module, PyObject *const *args,
                                        Py_ssize_t nargs) {
  if (expect_arguments("set_pad_chain_function", nargs, 2) < 0) return NULL;
  GstPad *pad = address_argument(args[0], "pad");
  if (pad == NULL) return NULL;
  GstPadChainFunction function = (GstPadChainFunction)PyLong_AsVoidPtr(args[1]);
  if (function == NULL) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "chain function address is NULL");
    return NULL;
  }
  /* Frees the Python chain function's closure (its notify needs the GIL, which is held). */
  gst_pad_set_chain_function_full(pad, function, NULL, NULL);
  Py_RETURN_NONE;
}

/* workers > 1: an answered LATENCY query gets what the frames held by the workers add, in C: a
 * query handed to Python gains a reference there and is no longer writable (GStreamer 1.26
 * refuses to change it). */
typedef struct {
  gint64 min_added;
  gint64 max_added; /* < 0: unknown, the maximum becomes none */
} LatencyAdded;

static GstPadProbeReturn add_latency(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY(info);
  if (query == NULL || GST_QUERY_TYPE(query) != GST_QUERY_LATENCY ||
      !gst_query_is_writable(query))
    return GST_PAD_PROBE_OK;
  const LatencyAdded *added = data;
  gint64 min_added = __atomic_load_n(&added->min_added, __ATOMIC_RELAXED);
  gint64 max_added = __atomic_load_n(&added->max_added, __ATOMIC_RELAXED);
  gboolean live;
  GstClockTime low, high;
  gst_query_parse_latency(query, &live, &low, &high);
  if (high != GST_CLOCK_TIME_NONE) high = max_added < 0 ? GST_CLOCK_TIME_NONE : high + max_added;
  gst_query_set_latency(query, live, low + min_added, high);
  return GST_PAD_PROBE_OK;
}

static PyObject *add_latency_probe(PyObject *module, PyObject *address) {
  GstPad *pad = address_argument(address, "pad");
  if (pad == NULL) return NULL;
  LatencyAdded *added = g_new0(LatencyAdded, 1);
  gulong id = gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_QUERY_UPSTREAM | GST_PAD_PROBE_TYPE_PULL,
                                add_latency, added, g_free);
  return Py_BuildValue("(kN)", id, PyLong_FromVoidPtr(added));
}

static PyObject *set_latency_added(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
  if (expect_arguments("set_latency_added", nargs, 3) < 0) return NULL;
  LatencyAdded *added = address_argument(args[0], "latency probe");
  if (added == NULL) return NULL;
  long long min_added = PyLong_AsLongLong(args[1]);
  long long max_added = PyLong_AsLongLong(args[2]);
  if (PyErr_Occurred()) return NULL;
  __atomic_store_n(&added->min_added, (gint64)min_added, __ATOMIC_RELAXED);
  __atomic_store_n(&added->max_added, (gint64)max_added, __ATOMIC_RELAXED);
  Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"read_rois", (PyCFunction)(void (*)(void))read_rois, METH_FASTCALL,
     "read_rois(buffer_address, label_ids, decode) -> (objects, roi_addresses)\n\n"
     "One in_meta object dict per ROI meta of the buffer, in order, and each ROI meta's "
     "address.\nAn \"emcustom\" param shows decode(its json field) unless that raises "
     "ValueError."},
    {"write_results", (PyCFunction)(void (*)(void))write_results, METH_FASTCALL,
     "write_results(roi_addresses, results_json) -> None\n\n"
     "Put element i of results_json, the JSON text (str or bytes) of a list, on ROI meta i "
     "as param \"emcustom\" (json=...), replacing an older one; {} (nothing for this object) "
     "and a None address leave it as it is. The ROIs' buffer must be writable."},
    {"write_meta_json", (PyCFunction)(void (*)(void))write_meta_json, METH_FASTCALL,
     "write_meta_json(buffer_address, text) -> None\n\n"
     "Attach (or replace) the merged JSON on a writable buffer; ValueError if it is not. "
     "text is a str, or bytes or a bytearray the caller knows are valid UTF-8 (orjson's "
     "output)."},
    {"refill", (PyCFunction)(void (*)(void))refill, METH_FASTCALL,
     "refill(array, data) -> None\n\n"
     "Replace the bytearray's content by the bytes', in place (resized as needed)."},
    {"has_handler", (PyCFunction)(void (*)(void))has_handler, METH_FASTCALL,
     "has_handler(object_address, signal_id) -> bool\n\n"
     "Whether the signal has handlers connected on the object (g_signal_has_handler_pending)."},
    {"add_text_signal", (PyCFunction)(void (*)(void))add_text_signal, METH_FASTCALL,
     "add_text_signal(gtype, name) -> signal id\n\n"
     "Add a RUN_LAST signal taking one string, without a class handler, to a GObject type "
     "(hash() of a GType is its value)."},
    {"emit_text", (PyCFunction)(void (*)(void))emit_text, METH_FASTCALL,
     "emit_text(object_address, signal_id, text) -> None\n\n"
     "Emit a signal made by add_text_signal() by its id, lending text's UTF-8 to the handlers "
     "(a str, or bytes or a bytearray the caller knows are valid UTF-8; a bytearray cannot be "
     "resized while they hold it)."},
    {"emit_text_capturing", (PyCFunction)(void (*)(void))emit_text_capturing, METH_FASTCALL,
     "emit_text_capturing(object_address, signal_id, text) -> list[str] | None\n\n"
     "emit_text(), returning what capture_error() was given during the emission (the "
     "tracebacks of handlers that raised), or None."},
    {"capturing_errors", capturing_errors, METH_NOARGS,
     "capturing_errors() -> bool\n\n"
     "Whether this thread is inside an emission of emit_text_capturing()."},
    {"capture_error", capture_error, METH_O,
     "capture_error(text) -> None\n\n"
     "Record text for the emission of emit_text_capturing() this thread is inside."},
    {"pause_gc", pause_gc, METH_NOARGS,
     "pause_gc() -> bool\n\n"
     "Disable Python's cyclic collector; returns whether it was enabled (gc.enable() resumes)."},
    {"debug_enabled", (PyCFunction)(void (*)(void))debug_enabled, METH_FASTCALL,
     "debug_enabled(category_address, also_address, level) -> bool\n\n"
     "Whether a message at level is logged in the GstDebugCategory or in also (0: none)."},
    {"begin_frame", (PyCFunction)(void (*)(void))begin_frame, METH_FASTCALL,
     "begin_frame(buffer_address, downstream_address, frame_num, template, label_ids, decode)"
     " -> (in_meta | None, objects, roi_addresses, upstream_json | None)\n\n"
     "in_meta() of the buffer with the objects read_rois() reads from the buffer going "
     "downstream, and read_meta_json() of that one, in one call."},
    {"has_digit_run", (PyCFunction)(void (*)(void))has_digit_run, METH_FASTCALL,
     "has_digit_run(text, length) -> bool\n\n"
     "Whether text holds at least length ASCII digits in a row (one linear pass)."},
    {"scan_json", (PyCFunction)(void (*)(void))scan_json, METH_FASTCALL,
     "scan_json(text, element[, literal]) -> (kind, compact, start, end, element_kind) | None\n\n"
     "Check that text is strict JSON that compact writing keeps the meaning of (None when "
     "not: see _native_json.c) and write it without whitespace between tokens. kind: 0 a "
     "scalar, 1 an object, 2 an array, 3 {}, 4 []. For an array, start and end are the span "
     "in compact of its element number `element` (-1 when it has no such element), "
     "element_kind that element's kind (-1). With literal true, text is a Python literal "
     "(str(list_of_dicts)), written as the compact JSON of the same values."},
    {"escape_views", (PyCFunction)(void (*)(void))escape_views, METH_FASTCALL,
     "escape_views(buffer_address, maps) -> int\n\n"
     "After a library call: each MappedBuffer of the list maps still referenced elsewhere (a "
     "view outlives the call) unmaps; a writable buffer then gets a copy of the memory the "
     "views point into, else that memory becomes unwritable for everyone else, and it stays "
     "mapped while the views live. Clears the list; returns how many escaped."},
    {"register_enum", (PyCFunction)(void (*)(void))register_enum, METH_FASTCALL,
     "register_enum(name, [(nick, description), ...]) -> gtype\n\n"
     "Register a GEnum type whose values are 0, 1, ... in the order given (or return the "
     "type registered under that name before)."},
    {"configure_frames", (PyCFunction)(void (*)(void))configure_frames, METH_FASTCALL,
     "configure_frames(frame_error, buffer_type, calls, plane_specs, make_views, ndarray, uint8) "
     "-> None\n\nWhat FrameViews uses (frames/views.py gives it once, at import)."},
    {"map_buffer", (PyCFunction)(void (*)(void))map_buffer, METH_FASTCALL,
     "map_buffer(buffer_address, flags) -> MappedBuffer | None\n\n"
     "Map a buffer (flags: MAP_READ, MAP_WRITE or both); None when writing is asked for and the "
     "buffer is not writable. The result lends the bytes through the buffer protocol; call "
     "its unmap() when done."},
    {"stream_copy", (PyCFunction)(void (*)(void))stream_copy, METH_FASTCALL,
     "stream_copy(destination, source) -> None\n\n"
     "Copy a C-contiguous buffer into a writable one of the same size with non-temporal "
     "stores (no cache reads of the destination), without the GIL."},
    {"buffer_pts", buffer_pts, METH_O,
     "buffer_pts(buffer_address) -> int\n\nThe buffer's PTS (GST_CLOCK_TIME_NONE when unset)."},
    {"has_analytics_meta", has_analytics_meta, METH_O,
     "has_analytics_meta(buffer_address) -> bool\n\n"
     "Whether the buffer has a GstAnalyticsRelationMeta (never before GStreamer 1.24)."},
    {"has_video_meta", has_video_meta, METH_O,
     "has_video_meta(buffer_address) -> bool\n\nWhether the buffer has a GstVideoMeta."},
    {"in_meta", (PyCFunction)(void (*)(void))in_meta, METH_FASTCALL,
     "in_meta(buffer_address, frame_num, template, objects) -> dict | None\n\n"
     "One frame's in_meta from a template frame dict (copied, planes too) with the buffer's "
     "frame_num, buf_pts, the wall-clock timestamp and objects; None when the buffer has a "
     "GstVideoMeta."},
    {"wall_clock_timestamp", wall_clock_timestamp, METH_O,
     "wall_clock_timestamp(milliseconds) -> str\n\n"
     "Local time of milliseconds since the epoch: 2020-05-13T12:18:47.323-0600."},
    {"open_frame", (PyCFunction)(void (*)(void))open_frame, METH_FASTCALL,
     "open_frame(registry, in_meta, buffer, rois, label_ids) -> None\n\n"
     "registry[id(in_meta)] = (in_meta, buffer, rois, label_ids)."},
    {"close_frame", (PyCFunction)(void (*)(void))close_frame, METH_FASTCALL,
     "close_frame(registry, in_meta) -> None\n\n"
     "registry.pop(id(in_meta), None)."},
    {"install_transforms", (PyCFunction)(void (*)(void))install_transforms, METH_FASTCALL,
     "install_transforms(gtype, transform_ip, transform, sample_buffer, sample_address,\n"
     "                   lent_type) -> bool\n\n"
     "Replace the transform_ip and transform vfuncs of the GstBaseTransform subclass `gtype`\n"
     "with C functions calling transform_ip(element, buffer) and transform(element, inbuf,\n"
     "outbuf) directly, the buffer (inbuf) made as a `lent_type` object (a subclass of\n"
     "Gst.Buffer adding no fields). `sample_buffer` (a Gst.Buffer, at `sample_address`) checks\n"
     "the wrapper layout; False (nothing replaced) when it does not match or it was done."},
    {"keep_thread_state", keep_thread_state, METH_NOARGS,
     "keep_thread_state() -> None\n\n"
     "Keep the calling thread's Python thread state until the thread exits, so that callbacks "
     "from it do not create and delete one each time."},
    {"add_latency_probe", add_latency_probe, METH_O,
     "add_latency_probe(pad_address) -> (probe_id, probe_address)\n\n"
     "A probe adding set_latency_added()'s values to the LATENCY queries the pad answers; "
     "remove it with gst_pad_remove_probe(probe_id)."},
    {"set_latency_added", (PyCFunction)(void (*)(void))set_latency_added, METH_FASTCALL,
     "set_latency_added(probe_address, min_ns, max_ns) -> None\n\n"
     "What the probe adds to the minimum and the maximum (max_ns < 0: the maximum is unknown)."},
    {"pad_chain_function", pad_chain_function, METH_O,
     "pad_chain_function(pad_address) -> int\n\nThe address of the pad's chain function."},
    {"set_pad_chain_function", (PyCFunction)(void (*)(void))set_pad_chain_function,
     METH_FASTCALL,
     "set_pad_chain_function(pad_address, function_address) -> None\n\n"
     "Put back a chain function read with pad_chain_function() (no user data)."},
    {"read_meta_json", read_meta_json, METH_O,
     "read_meta_json(buffer_address) -> str | None\n\n"
     "The merged JSON on a buffer, or None when it has none."},
    {NULL, NULL, 0, NULL},
};

int intern(PyObject **key, const char *text) {
  *key = PyUnicode_InternFromString(text);
  return *key == NULL ? -1 : 0;
}

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "empycustom._native",
    .m_doc = "The per-object metadata path (ROI metas, custom meta) in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) {
  json_quark = g_quark_from_static_string(JSON_FIELD);
  result_quark = g_quark_from_static_string(RESULT_PARAM);
  if (intern(&key_object_id, "object_id") || intern(&key_parent_id, "parent_id") ||
      intern(&key_class_id, "class_id") || intern(&key_obj_label, "obj_label") ||
      intern(&key_confidence, "confidence") || intern(&key_rect_params, "rect_params") ||
      intern(&key_params, "params") || intern(&key_left, "left") || intern(&key_top, "top") ||
      intern(&key_width, "width") || intern(&key_height, "height") ||
      intern(&key_label_id, "label_id") || intern(&key_json, JSON_FIELD) ||
      intern(&key_detection, DETECTION_PARAM) || intern(&key_frame, "frame") ||
      intern(&key_frame_num, "frame_num") || intern(&key_buf_pts, "buf_pts") ||
      intern(&key_timestamp, "timestamp") || intern(&key_planes, "planes") ||
      intern(&key_object, "object"))
    return NULL;
  object_template = PyDict_New();
  rect_template = PyDict_New();
  if (object_template == NULL || rect_template == NULL) return NULL;
  PyObject *object_keys[] = {key_object_id, key_parent_id, key_class_id, key_obj_label,
                             key_confidence, key_rect_params, key_params};
  for (int index = 0; index < 7; index++)
    if (PyDict_SetItem(object_template, object_keys[index], Py_None) < 0) return NULL;
  PyObject *rect_keys[] = {key_left, key_top, key_width, key_height};
  for (int index = 0; index < 4; index++)
    if (PyDict_SetItem(rect_template, rect_keys[index], Py_None) < 0) return NULL;
  unknown_class_id = PyLong_FromLong(-1);
  unknown_confidence = PyFloat_FromDouble(-1.0);
  if (unknown_class_id == NULL || unknown_confidence == NULL) return NULL;
  if (PyType_Ready(&CallSlotType) < 0) return NULL;
  PyObject *module = PyModule_Create(&module_definition);
  if (module == NULL) return NULL;
  if (add_frame_types(module) < 0 || PyModule_AddType(module, &CallSlotType) < 0 ||
      PyModule_AddIntConstant(module, "MAP_READ", GST_MAP_READ) < 0 ||
      PyModule_AddIntConstant(module, "MAP_WRITE", GST_MAP_WRITE) < 0 ||
      PyModule_AddStringConstant(module, "RESULT_PARAM", RESULT_PARAM) < 0 ||
      PyModule_AddStringConstant(module, "DETECTION_PARAM", DETECTION_PARAM) < 0 ||
      PyModule_AddStringConstant(module, "CUSTOM_META_NAME", CUSTOM_META_NAME) < 0) {
    Py_DECREF(module);
    return NULL;
  }
  return module;
}

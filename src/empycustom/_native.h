/* What the files of empycustom._native share (each file says what it holds). */
#ifndef EMPYCUSTOM_NATIVE_H
#define EMPYCUSTOM_NATIVE_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

/* _native.c */
int expect_arguments(const char *function, Py_ssize_t given, Py_ssize_t expected);
void *address_argument(PyObject *value, const char *what);
int intern(PyObject **key, const char *text); /* *key = the interned str of text */

/* _native_json.c */
PyObject *scan_json(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

/* _native_frames.c */
PyObject *map_buffer(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *escape_views(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *configure_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
int add_frame_types(PyObject *module);

#endif

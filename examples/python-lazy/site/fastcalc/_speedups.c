/* fastcalc's C extension. When it loads, it imports its weight table from a Python module that
 * only this file names: no Python source imports fastcalc_tables. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *weights;

static PyObject *total(PyObject *self, PyObject *args) {
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "O", &seq))
        return NULL;
    PyObject *it = PyObject_GetIter(seq);
    if (!it)
        return NULL;
    double sum = 0;
    Py_ssize_t i = 0;
    PyObject *item;
    Py_ssize_t nweights = PySequence_Size(weights);
    while ((item = PyIter_Next(it))) {
        double w = 1.0;
        if (nweights > 0) {
            PyObject *wo = PySequence_GetItem(weights, i % nweights);
            w = wo ? PyFloat_AsDouble(wo) : 1.0;
            Py_XDECREF(wo);
        }
        sum += PyFloat_AsDouble(item) * w;
        Py_DECREF(item);
        i++;
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    return PyFloat_FromDouble(sum);
}

static PyMethodDef methods[] = {
    {"total", total, METH_VARARGS, "Weighted sum of a sequence of numbers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fastcalc._speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    PyObject *tables = PyImport_ImportModule("fastcalc_tables");
    if (!tables)
        return NULL;
    weights = PyObject_GetAttrString(tables, "WEIGHTS");
    Py_DECREF(tables);
    if (!weights)
        return NULL;
    return PyModule_Create(&module);
}

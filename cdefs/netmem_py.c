/*
 * CPython entry points for the hottest calls, compiled into the same cffi
 * extension as the runtime (cffi already includes <Python.h>).
 *
 * A cffi-wrapped call plus a Python-level error check costs about 1.6x a
 * bare cffi call; these METH_O functions do the argument conversion, the
 * GIL release and the error check in C, so get_netmem()/put_netmem() from
 * Python cost about what one bare cffi call does.  Errors are built by a
 * Python factory (the Runtime's error mapping), so messages and exception
 * classes live in one place.
 *
 * The same shared object carries a second, tiny extension module,
 * "entry_points" (PyInit_entry_points): the runtime loads it from the
 * compiled module's file with importlib's ExtensionFileLoader (no ctypes)
 * and calls its bind(factory, module) once per profile.  bind returns a dict of the
 * builtin functions, bound to the profile's compiled module (they carry
 * __text_signature__).
 */

static PyObject *nm_py_factory; /* callable(code, value) -> exception instance */

static PyObject *nm_py_raise(int code, PyObject *value)
{
	PyObject *exc = PyObject_CallFunction(nm_py_factory, "iO", code, value);

	if (exc) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

static PyObject *nm_py_call(int (*fn)(netmem_ref), PyObject *arg)
{
	unsigned long n;
	int rc;

	if (!PyLong_CheckExact(arg) && !PyLong_Check(arg))
		return nm_py_raise(0, arg);
	n = PyLong_AsUnsignedLong(arg);
	if (n == (unsigned long)-1 && PyErr_Occurred()) {
		PyErr_Clear();
		return nm_py_raise(0, arg);
	}
	Py_BEGIN_ALLOW_THREADS
	rc = fn(n);
	Py_END_ALLOW_THREADS
	if (rc)
		return nm_py_raise(rc, arg);
	Py_RETURN_NONE;
}

static PyObject *nm_py_get_netmem(PyObject *self, PyObject *arg)
{
	(void)self;
	return nm_py_call(nm_get_netmem, arg);
}

static PyObject *nm_py_put_netmem(PyObject *self, PyObject *arg)
{
	(void)self;
	return nm_py_call(nm_put_netmem, arg);
}

static PyObject *nm_py_empty(PyObject *self, PyObject *arg)
{
	(void)self;
	return nm_py_call(nm_empty, arg);
}

static PyMethodDef nm_py_methods[] = {
	{ "get_netmem", nm_py_get_netmem, METH_O,
	  "get_netmem($module, netmem, /)\n--\n\nTake a reference: get_page() on the head page's _refcount, or the\n"
	  "devmem binding's refcount for a NET_IOV_DMABUF niov; io_uring niovs are left\n"
	  "alone (as in merged kernels).  Validated in C, GIL released.  Raises a\n"
	  "RefError subclass (NotOwnedError, UseAfterFreeError, ClosedError ...) or\n"
	  "RefcountOverflowError; counters are unchanged on error." },
	{ "put_netmem", nm_py_put_netmem, METH_O,
	  "put_netmem($module, netmem, /)\n--\n\nDrop a reference: put_page() (the page is freed and poisoned at zero),\n"
	  "or the devmem binding's refcount (the area's own reference cannot be\n"
	  "dropped: RefcountUnderflowError).  io_uring niovs are left alone.\n"
	  "Validated in C, GIL released; counters are unchanged on error." },
	{ "empty", nm_py_empty, METH_O, "empty($module, netmem, /)\n--\n\nThe same entry path doing nothing (benchmark floor)." },
	{ NULL, NULL, 0, NULL },
};

static PyObject *nm_py_bind(PyObject *factory, PyObject *module)
{
	PyObject *out = PyDict_New();
	PyObject *where = PyUnicode_FromString("netmem_ffi");
	PyMethodDef *def;

	if (!out || !where) {
		Py_XDECREF(out);
		Py_XDECREF(where);
		return NULL;
	}
	Py_XINCREF(factory);
	Py_XDECREF(nm_py_factory);
	nm_py_factory = factory;
	for (def = nm_py_methods; def->ml_name; def++) {
		/* bound to the compiled module, so "$module" drops out of the text signature */
		PyObject *fn = PyCFunction_NewEx(def, module, where);

		if (!fn || PyDict_SetItemString(out, def->ml_name, fn) < 0) {
			Py_XDECREF(fn);
			Py_DECREF(out);
			Py_DECREF(where);
			return NULL;
		}
		Py_DECREF(fn);
	}
	Py_DECREF(where);
	return out;
}

static PyObject *nm_py_entry_bind(PyObject *self, PyObject *args)
{
	PyObject *factory, *module;

	(void)self;
	if (!PyArg_UnpackTuple(args, "bind", 2, 2, &factory, &module))
		return NULL;
	return nm_py_bind(factory, module);
}

static PyMethodDef nm_py_entry_methods[] = {
	{ "bind", nm_py_entry_bind, METH_VARARGS,
	  "bind($module, factory, compiled, /)\n--\n\nSet the error factory (callable(code, value) -> exception) and\n"
	  "return {name: builtin} of the METH_O entry points, bound to the compiled module." },
	{ NULL, NULL, 0, NULL },
};

/* Single-phase init: cffi compiles against the limited API, which has no
 * PyModuleDef_Init.  Like cffi's own "<module>.lib", the module is listed in
 * sys.modules as "<compiled module>.entry_points". */
static struct PyModuleDef nm_py_entry_module = {
	PyModuleDef_HEAD_INIT,
	"entry_points",
	"The METH_O entry points of one compiled netmem generation (cdefs/netmem_py.c).",
	-1,
	nm_py_entry_methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_entry_points(void)
{
	return PyModule_Create(&nm_py_entry_module);
}

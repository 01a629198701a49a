# C types for futuresplan.py when Cython compiles it (setup.py): the .py stays the source.
import cython

@cython.locals(
    col=cython.Py_ssize_t, weight=cython.double, per_step=cython.double, held=cython.double,
    current=cython.double, gap=cython.double, tol=cython.double, wanted=cython.double,
    x=cython.double, flip=cython.bint, reduces=cython.bint,
)
cpdef tuple plan_futures(
    object book, object goals, list closes, object threshold, double thr, double rel,
    double levered,
)

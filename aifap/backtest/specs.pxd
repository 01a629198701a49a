# C types for specs.py when Cython compiles it (setup.py): the .py stays the source.
import cython

@cython.locals(
    count=cython.Py_ssize_t, col=cython.Py_ssize_t, i=cython.Py_ssize_t, w=cython.double,
    close=cython.double, buying=cython.bint, tick=cython.double, price=cython.double,
)
cpdef object read_specs(
    list cols, object specs, list closes, list ticks_f, list ticks, double lowest,
    dict known, object tick_units,
)

@cython.locals(y=cython.double, n=cython.longlong)
cdef object _on_tick(double price, double tick, object units)

# C layout and types for futuresbook.py when Cython compiles it (setup.py): the .py stays
# the source (see spotbook.pxd).
import cython

from aifap.backtest.spotbook cimport SpotBook


cdef class FuturesBook(SpotBook):
    cdef public object c, cs_unit, funding, leverage, r
    cdef public list cs_f, funding_fee, step_values
    cdef public double lev_f

    @cython.locals(col=Py_ssize_t, value=double, total=double, gross=double, equity=double)
    cpdef tuple _marked(self, list closes)
    @cython.locals(
        col=Py_ssize_t, weight=double, per_step=double, held=double, current=double,
        gap=double, tol=double, wanted=double, x=double, flip=bint, reduces=bint,
    )
    cpdef tuple _plan(
        self, object goals, list closes, object threshold, double thr, double rel,
        double levered,
    )
    cpdef object _book(self, Py_ssize_t col, object signed, object price, object fee)
    @cython.locals(
        col=Py_ssize_t, n=Py_ssize_t, opened=double, held=double, tp_f=double, sl_f=double,
        nan=double, armed=bint,
    )
    cpdef Py_ssize_t _fill_futures(self, list orders, object stops, list opens, object log)

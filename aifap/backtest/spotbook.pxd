# C layout and types for spotbook.py when Cython compiles it (setup.py): the .py stays the
# source. The book is an extension type: its attributes are C struct fields, its methods
# below called through a C table, not looked up by name.
import cython


@cython.locals(i=Py_ssize_t, low=double, bound=double)
cpdef bint clear_of(list extremes, list limits)

cdef class SpotBook:
    cdef public object _gross, a, capital, cash, cash_unit, fees, fine, markets
    cdef public object notional_scale, p, price_unit, rate, rate_unit, realized, size_unit
    cdef public object texts
    cdef public dict _layouts, _spec_keys, columns
    cdef public list basis, cs, held_steps, last_price, limits, min_amounts, min_notionals
    cdef public list order, size, size_f, steps, steps_f, stops, symbols, ticks, ticks_f
    cdef public double cash_f, rel
    cdef public bint armed, stoppable

    cpdef object parse(self, object output, object max_gross_weight, list closes=*)
    cpdef object _parse_plain(self, dict output, object layout, object max_gross_weight)
    cpdef object _layout_of(self, object output)
    cpdef bint _within_gross(self, double total, Py_ssize_t count, object max_gross_weight)
    @cython.locals(col=Py_ssize_t)
    cpdef list _spread(self, object layout, list values)

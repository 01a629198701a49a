"""Finwatcher's snapshot computation and the results store.

The finwatcher *process* (its loop on the session clock) is
:mod:`aifap.live.finwatcher_process`; this package never imports ``aifap.live``.
"""

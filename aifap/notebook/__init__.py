"""Notebook side of AIFAP: one-cell promotion and session reports.

- :func:`aifap.notebook.promote.promote` (``aifap.promote``): validate, freeze and
  launch a research strategy as a paper or live session.
- :mod:`aifap.notebook.session_report`: a session's summary and returns report.
"""

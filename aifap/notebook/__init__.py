"""Notebook side of AIFAP: one-cell promotion and papermill runs of the templates.

- :func:`aifap.notebook.promote.promote` (``aifap.promote``): validate, freeze and
  launch a research strategy as a paper or live session.
- :mod:`aifap.notebook.papermill_run`: run ``templates/live_session.ipynb`` under
  papermill and watch its kernel and heartbeat from outside the kernel.
- :mod:`aifap.notebook.session_report`: a session's summary and returns report.
"""

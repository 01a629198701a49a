"""The platform API: auth, supervisor → managers → traders, risk, and the mounted services.

``create_app()`` builds it (``aifap serve api``). The org model lives in the platform
database (:mod:`aifap.api.models`, Alembic branch ``platform``). Nothing of AIFAP
imports this package; it may import everything.
"""

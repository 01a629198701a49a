"""Helpers shared by test modules (``from helpers.markets import ...``).

Test modules never import each other: what two of them share lives here. ``tests/``
is on ``sys.path`` because pytest inserts the directory of the root ``conftest.py``.
"""

"""Pure domain model: markets, targets, orders, positions, planner, fill model, metrics.

Nothing here does I/O or reads a clock; time is always an argument.
"""

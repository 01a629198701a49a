"""The paper gateway: simulated fills from the core fill model, state in the database."""

from aifap.exchange.paper.gateway import PaperGateway

__all__ = ["PaperGateway"]

"""The one retry policy of the project (exchange calls, the data collector, alerts).

At most 3 attempts (the seed's ``retry_request(fn, max_retries=3)``), exponential
back-off with jitter, and only for ``TransientGatewayError`` (network errors,
timeouts, rate limits, exchange unavailable). Anything else is raised at once. When
the budget is spent, ``RetryExhaustedError`` is raised from the last error: the live
runner turns it into an alert and a stop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    nap,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from aifap.core.errors import RetryExhaustedError, TransientGatewayError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry transient failures.

    ``max_elapsed`` is measured on the real clock (tenacity's ``stop_after_delay``), so
    an injected ``sleep`` that does not wait only shortens a test, never the budget's
    attempt count.
    """

    max_attempts: int = 3
    initial_wait: float = 0.5
    max_wait: float = 8.0
    jitter: float = 0.5
    max_elapsed: float | None = 60.0
    is_transient: Callable[[BaseException], bool] = lambda exc: (
        isinstance(exc, TransientGatewayError) and not isinstance(exc, RetryExhaustedError)
    )
    sleep: Callable[[float], None] | None = None
    """How to wait between attempts (None: tenacity's ``time.sleep``); tests inject one."""

    def retrying(self, what: str = "call") -> Retrying:
        """Return a tenacity ``Retrying`` that follows this policy."""
        stop: stop_base = stop_after_attempt(self.max_attempts)
        if self.max_elapsed is not None:
            stop = stop | stop_after_delay(self.max_elapsed)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s failed (attempt %d of %d): %s; retrying",
                what,
                state.attempt_number,
                self.max_attempts,
                type(exc).__name__ if exc else "error",
            )

        def give_up(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            raise RetryExhaustedError(
                f"{what} failed after {state.attempt_number} attempts: {exc}"
            ) from exc

        return Retrying(
            sleep=self.sleep if self.sleep is not None else nap.sleep,
            stop=stop,
            wait=wait_exponential_jitter(
                multiplier=self.initial_wait, max=self.max_wait, jitter=self.jitter
            ),
            retry=retry_if_exception(self.is_transient),
            before_sleep=before_sleep,
            retry_error_callback=give_up,
            reraise=False,
        )

    def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn`` under this policy and return its result."""
        name = getattr(fn, "__qualname__", getattr(fn, "__name__", "call"))
        return self.retrying(name)(fn, *args, **kwargs)


DEFAULT_POLICY = RetryPolicy()


def retry_request(fn: Callable[..., R], *args: object, max_retries: int = 3, **kwargs: object) -> R:
    """Call ``fn`` with the seed's shape: up to ``max_retries`` attempts on transient errors."""
    policy = RetryPolicy(max_attempts=max_retries)
    return policy.call(fn, *args, **kwargs)

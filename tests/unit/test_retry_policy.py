import pytest

from aifap.core.errors import OrderRejectedError, RetryExhaustedError, TransientGatewayError
from aifap.retry import RetryPolicy, retry_request

FAST = RetryPolicy(initial_wait=0, max_wait=0, jitter=0)


def flaky(failures: list[Exception]):
    calls = []

    def call():
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return call, calls


def test_transient_errors_are_retried_until_success():
    call, calls = flaky([TransientGatewayError("429"), TransientGatewayError("timeout")])
    assert FAST.call(call) == "ok"
    assert len(calls) == 3


def test_rejections_are_never_retried():
    call, calls = flaky([OrderRejectedError("insufficient margin")])
    with pytest.raises(OrderRejectedError):
        FAST.call(call)
    assert len(calls) == 1


def test_an_exhausted_budget_raises_one_named_error_chained_to_the_cause():
    call, calls = flaky([TransientGatewayError(f"down {i}") for i in range(5)])
    with pytest.raises(RetryExhaustedError, match="after 3 attempts: down 2") as info:
        FAST.call(call)
    assert isinstance(info.value.__cause__, TransientGatewayError)
    assert len(calls) == 3


def test_the_seeds_retry_request_shape_counts_attempts():
    call, calls = flaky([TransientGatewayError("x")] * 1)
    assert retry_request(call, max_retries=2) == "ok"
    assert len(calls) == 2

import pytest

import aifap
from aifap.errors import UnknownPluginError
from aifap.registry import Registry


def test_registered_names_are_returned_and_unknown_ones_list_the_known():
    registry: Registry[type] = Registry("aifap.test-plugins")
    registry.register("paper", dict)
    assert registry.get("paper") is dict
    assert "paper" in registry
    with pytest.raises(UnknownPluginError, match="unknown name 'kraken'; known names: paper"):
        registry.get("kraken")


def test_registering_a_name_twice_is_an_error():
    registry: Registry[type] = Registry("aifap.test-plugins")
    registry.register("paper", dict)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("paper", list)


def test_public_names_resolve():
    for name in aifap.__all__:
        assert getattr(aifap, name) is not None

"""Freeze a strategy's source into ``strategies/frozen/<name>_<hash12>.py``.

What is frozen:

- a **module** strategy (a ``.py`` path, ``package.module:function``, or a function
  whose module is an importable file): the whole module file, so its imports and
  helpers come along;
- a **function defined in a notebook cell** (``__module__ == '__main__'``): its
  source (``inspect.getsource``; IPython keeps cell sources in ``linecache``) plus what
  it reads from the notebook's globals, found in its bytecode (``LOAD_GLOBAL``):
  modules become ``import x as y``; functions and classes of importable modules become
  ``from m import f as y``; other notebook functions are frozen with it (recursively);
  literal constants (numbers, strings, tuples, lists, dicts of them) are copied.
  Anything else (a DataFrame, a notebook class, a closure, a lambda) is refused with
  its name: define it inside the function or in a module.

The file name carries the first 12 hex digits of the SHA-256 of the frozen source, so
identical source gives the same file, and a frozen file is never rewritten.
"""

from __future__ import annotations

import ast
import builtins
import dis
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aifap.core.errors import StrategyError

FROZEN_DIR = "frozen"


class FreezeError(StrategyError):
    """The strategy's source cannot be frozen; the message names the culprit."""


@dataclass(frozen=True)
class FrozenStrategy:
    """A frozen strategy file and the function to call in it."""

    path: Path
    function: str
    digest: str  # first 12 hex digits of the source's SHA-256

    @property
    def spec(self) -> str:
        """Return the ``file.py:function`` spec a session config takes."""
        return f"{self.path}:{self.function}"


def freeze_strategy(strategy: Any, name: str, directory: str | Path) -> FrozenStrategy:
    """Write ``strategy``'s source to ``<directory>/frozen/<name>_<hash12>.py`` (or reuse it).

    Args:
        strategy: a function, a ``.py`` path (``path.py[:function]``) or ``module:function``.
        name: the strategy's name (letters, digits, ``_`` and ``-``).
        directory: the strategies directory.

    Raises:
        FreezeError: the source cannot be frozen, or a frozen file was edited by hand.
    """
    source, function = strategy_source(strategy)
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
    stem = re.sub(r"\W", "_", name)
    path = Path(directory).resolve() / FROZEN_DIR / f"{stem}_{digest}.py"
    # a comment, not a docstring: the source may open with its own docstring and a
    # ``from __future__`` import, which must come before any other statement
    header = f"# Strategy {name!r} frozen by aifap.promote (source sha256 {digest}); do not edit.\n"
    text = header + "\n" + source.rstrip() + "\n"
    earlier = (  # what files frozen before the header became a comment hold
        f'"""Strategy {name!r} frozen by aifap.promote (source sha256 {digest}); '
        'do not edit."""\n\n' + source.rstrip() + "\n"
    )
    if path.exists():
        if path.read_text(encoding="utf-8") not in (text, earlier):
            raise FreezeError(f"frozen strategy {path} must be unchanged, it was edited")
        return FrozenStrategy(path, function, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return FrozenStrategy(path, function, digest)


def strategy_source(strategy: Any) -> tuple[str, str]:
    """Return the source to freeze for ``strategy`` and the name of its function."""
    if isinstance(strategy, str | Path):
        return _spec_source(str(strategy))
    if isinstance(strategy, types.FunctionType):
        if strategy.__module__ not in (None, "__main__"):
            module = importlib.import_module(strategy.__module__)
            file = getattr(module, "__file__", None)
            if file and file.endswith(".py") and "<locals>" not in strategy.__qualname__:
                return Path(file).read_text(encoding="utf-8"), strategy.__name__
        return _NotebookFreezer().freeze(strategy), strategy.__name__
    raise FreezeError(
        f"strategy must be a function, a .py file or 'module:function', "
        f"was {type(strategy).__name__}"
    )


def _spec_source(spec: str) -> tuple[str, str]:
    target, _, function = spec.rpartition(":") if ":" in spec else (spec, "", "")
    function = function or "strategy"
    if target.endswith(".py") or Path(target).is_file():
        path = Path(target)
        if not path.is_file():
            raise FreezeError(f"strategy file must exist, was {target!r}")
        return path.read_text(encoding="utf-8"), function
    found = importlib.util.find_spec(target)
    if found is None or not found.origin or not found.origin.endswith(".py"):
        raise FreezeError(f"strategy module {target!r} must be an importable .py module")
    return Path(found.origin).read_text(encoding="utf-8"), function


def _global_names(code: types.CodeType) -> list[str]:
    names: list[str] = []
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and instruction.argval not in names:
            names.append(instruction.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += [n for n in _global_names(const) if n not in names]
    return names


def _is_literal(value: Any) -> bool:
    try:
        return bool(ast.literal_eval(repr(value)) == value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


class _NotebookFreezer:
    """Collect a notebook function, the notebook functions it calls, imports and constants."""

    def __init__(self) -> None:
        self.imports: dict[str, str] = {}
        self.constants: dict[str, str] = {}
        self.functions: dict[str, str] = {}  # name -> source, dependencies first

    def freeze(self, fn: types.FunctionType) -> str:
        self._visit(fn)
        blocks = [
            "\n".join(sorted(self.imports.values())),
            "\n".join(self.constants.values()),
            *self.functions.values(),
        ]
        return "\n\n\n".join(b for b in blocks if b) + "\n"

    def _visit(self, fn: types.FunctionType) -> None:
        label = fn.__qualname__
        if fn.__name__ == "<lambda>":
            raise FreezeError("strategy functions must be defined with def, not lambda")
        if fn.__closure__:
            free = ", ".join(fn.__code__.co_freevars)
            raise FreezeError(
                f"{label} must not be a closure (it captures {free}); "
                "define it at the top level of a cell"
            )
        try:
            source = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError) as exc:
            raise FreezeError(f"the source of {label} must be available, it is not: {exc}") from exc
        self.functions[fn.__name__] = ""  # placeholder: guards recursion, keeps order
        for name in _global_names(fn.__code__):
            self._resolve(name, fn)
        self.functions.pop(fn.__name__)
        self.functions[fn.__name__] = source.rstrip()

    def _resolve(self, name: str, fn: types.FunctionType) -> None:
        if name in self.imports or name in self.constants or name in self.functions:
            return
        if name not in fn.__globals__:
            if hasattr(builtins, name):
                return
            raise FreezeError(
                f"{fn.__qualname__} uses {name!r}, which must be defined in the notebook, it is not"
            )
        value = fn.__globals__[name]
        if isinstance(value, types.ModuleType):
            real = value.__name__
            self.imports[name] = f"import {real}" if real == name else f"import {real} as {name}"
        elif isinstance(value, types.FunctionType) and value.__module__ == "__main__":
            self._visit(value)
        elif callable(value) and getattr(value, "__module__", "__main__") != "__main__":
            self.imports[name] = self._from_import(name, value, fn)
        elif _is_literal(value) and not callable(value):
            self.constants[name] = f"{name} = {value!r}"
        else:
            raise FreezeError(
                f"{fn.__qualname__} uses the notebook global {name!r} (a {type(value).__name__}), "
                "which cannot be frozen: define it inside the function or in a module"
            )

    @staticmethod
    def _from_import(name: str, value: Any, fn: types.FunctionType) -> str:
        module, attribute = value.__module__, getattr(value, "__name__", name)
        try:
            same = getattr(importlib.import_module(module), attribute) is value
        except (ImportError, AttributeError):
            same = False
        if not same:
            raise FreezeError(
                f"{fn.__qualname__} uses {name!r}, which must be importable as "
                f"{module}.{attribute}, it is not"
            )
        alias = "" if attribute == name else f" as {name}"
        return f"from {module} import {attribute}{alias}"

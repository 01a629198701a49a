"""The backtest's optional compiled modules, used only when built from their current source.

``pip install`` compiles the integer books and their spec reader (:data:`MODULES`) with
Cython where it finds a C compiler (``setup.py``): the same ``.py`` files are the source,
and run as they are where none is found. A ``.pxd`` beside one gives it C types: the
books become extension types (attributes in C struct fields, methods called through a C
table), and the hot loops' locals C doubles and indexes. Compiled, the books'
per-symbol Python (parsing specs, planning, fills) costs less (``benches/README.md``,
"Twelfth pass" and after); results are identical.

An extension module shadows the ``.py`` beside it. One built from another version of
its source (the file or its ``.pxd`` edited or checked out since) would run stale code,
so the ``.py`` files run instead, with a warning; so they do when ``AIFAP_PURE_PYTHON``
is set (to 1, or anything but 0 or empty). The modules run compiled together or not at
all (the futures book's C type extends the spot book's). :func:`select` runs when
``aifap.backtest`` is first imported, before anything imports the books.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

# in import order (each selected before a later one imports it): futuresbook imports
# spotbook (and its C type: futuresbook.pxd), spotbook imports specs
MODULES = (
    "aifap.backtest.specs",
    "aifap.backtest.spotbook",
    "aifap.backtest.futuresbook",
)
# written by setup.py next to this file: {module: sha256 of the source it compiled}
MANIFEST = Path(__file__).with_name("compiled.json")
PURE_ENV = "AIFAP_PURE_PYTHON"
STALE = "its compiled build is of another version of the source"

# per module of MODULES: "compiled", or "python" with the reason (filled by select())
STATE: dict[str, str] = {}


def source_hash(path: Path) -> str:
    """Return the sha256 of a module's source and its ``.pxd`` (C types), as setup.py records it."""
    digest = hashlib.sha256(path.read_bytes())
    types = path.with_suffix(".pxd")
    if types.exists():
        digest.update(types.read_bytes())
    return digest.hexdigest()


def pure_wanted() -> bool:
    """Tell whether ``AIFAP_PURE_PYTHON`` asks for the ``.py`` files (also read by setup.py)."""
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def _manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def select(manifest: Path = MANIFEST) -> dict[str, str]:
    """Decide whether the compiled builds run; load the ``.py`` files where not.

    Returns (and keeps in :data:`STATE`) ``"compiled"`` or ``"python: <why>"`` per
    module. The modules run compiled together or not at all: the futures book's C type
    extends the spot book's (``futuresbook.pxd``), so one module as Python takes the
    others with it. A module already imported is left as it is (and reported as it runs).
    """
    recorded = _manifest(manifest)
    found = {name: _origin(name) for name in MODULES}
    reasons = {name: _reason(name, origin, recorded) for name, origin in found.items()}
    first = next((reason for reason in reasons.values() if reason is not None), None)
    for name, origin in found.items():
        if origin is None or origin.endswith(".py"):
            STATE[name] = "python: not compiled"
        elif name in sys.modules or first is None:  # too late to choose, or all current
            STATE[name] = "compiled"
        else:
            reason = reasons[name] or f"{first} (in another module of the set)"
            _load_source(name, Path(origin).with_name(name.rsplit(".", 1)[1] + ".py"))
            STATE[name] = f"python: {reason}"
    return dict(STATE)


def _origin(name: str) -> str | None:
    """Return the file ``name`` runs from (or would, imported now)."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return getattr(loaded, "__file__", None)
    spec = importlib.util.find_spec(name)
    return spec.origin if spec is not None else None


def _reason(name: str, origin: str | None, recorded: dict[str, str]) -> str | None:
    """Return why ``name``'s build must not run, or None when it may (or is not built)."""
    if origin is None or origin.endswith(".py"):
        return "not compiled"
    if pure_wanted():
        return f"{PURE_ENV} is set"
    source = Path(origin).with_name(name.rsplit(".", 1)[1] + ".py")
    if not source.exists():  # an installed build without its source: nothing to check
        return None
    if recorded.get(name) != source_hash(source):
        log.warning(
            "%s: %s; running the .py (rebuild: pip install -e . in the project)", name, STALE
        )
        return STALE
    return None


def _load_source(name: str, source: Path) -> None:
    """Import ``name`` from its ``.py`` file, shadowing the extension module beside it."""
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise

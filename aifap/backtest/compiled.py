"""The backtest's optional compiled modules, used only when built from their current source.

``pip install`` compiles the integer books, their spec reader and the futures planning
loop (:data:`MODULES`) with
Cython where it finds a C compiler (``setup.py``): the same ``.py`` files are the source,
and run as they are where none is found (a ``.pxd`` beside one gives C types to its
locals). Compiled, the books' per-symbol Python (parsing specs, planning, fills) costs
less (``benches/README.md``, "Twelfth pass"); results are identical.

An extension module shadows the ``.py`` beside it. One built from another version of
its source (the file edited or checked out since) would run stale code, so such a
module is loaded from its ``.py`` instead, with a warning; so is every module when
``AIFAP_PURE_PYTHON`` is set (to 1, or anything but 0 or empty). :func:`select` runs
when ``aifap.backtest`` is first imported, before anything imports the books.
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
# spotbook and futuresplan, spotbook imports specs
MODULES = (
    "aifap.backtest.specs",
    "aifap.backtest.spotbook",
    "aifap.backtest.futuresplan",
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
    """Decide per module whether its compiled build runs; load the ``.py`` where not.

    Returns (and keeps in :data:`STATE`) ``"compiled"`` or ``"python: <why>"`` per
    module. A module already imported is left as it is (and reported as it runs).
    """
    recorded = _manifest(manifest)
    for name in MODULES:
        STATE[name] = _select_one(name, recorded)
    return dict(STATE)


def _select_one(name: str, recorded: dict[str, str]) -> str:
    loaded = sys.modules.get(name)
    origin = getattr(loaded, "__file__", None) if loaded else None
    if origin is None:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
    if origin is None or origin.endswith(".py"):
        return "python: not compiled"
    source = Path(origin).with_name(name.rsplit(".", 1)[1] + ".py")
    if loaded is not None:  # too late to choose: report what runs
        return "compiled"
    if pure_wanted():
        reason = f"{PURE_ENV} is set"
    elif not source.exists():  # an installed build without its source: nothing to check
        return "compiled"
    elif recorded.get(name) != source_hash(source):
        reason = STALE
        log.warning(
            "%s: %s; running the .py (rebuild: pip install -e . in the project)", name, reason
        )
    else:
        return "compiled"
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
    return f"python: {reason}"

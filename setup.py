"""Build hook: the backtest's integer books compiled with Cython, where a C compiler is found.

Everything else about the package is in pyproject.toml. The ``.py`` files stay the
source and run as they are when nothing compiles; a build records each source's
sha256 in ``aifap/backtest/compiled.json``, and a compiled module whose source changed
since is not run (``aifap/backtest/compiled.py``). ``AIFAP_PURE_PYTHON=1`` at install
time builds nothing.
"""

import importlib.util
import json
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent


def _compiled():  # aifap.backtest.compiled, read alone (stdlib only): its modules, its hash
    spec = importlib.util.spec_from_file_location("compiled", ROOT / "aifap/backtest/compiled.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COMPILED = _compiled()
SOURCES = tuple(name.replace(".", "/") + ".py" for name in COMPILED.MODULES)
# annotations are documentation here, not C types (a `list` annotation would reject an int)
DIRECTIVES = {"language_level": "3", "annotation_typing": False}


def extensions() -> list[Extension]:
    """Return the compiled modules to build, or none where Cython is missing or fails."""
    if COMPILED.pure_wanted():
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("aifap: Cython not found; the backtest's books run as Python")
        return []
    pairs = zip(COMPILED.MODULES, SOURCES, strict=True)
    modules = [Extension(name, [path]) for name, path in pairs]
    try:
        built = cythonize(modules, compiler_directives=DIRECTIVES, quiet=True)
    except Exception as exc:  # a Cython error: the .py files still run
        print(f"aifap: the backtest's books run as Python (Cython failed: {exc})")
        return []
    for module in built:  # no C compiler, or no Python headers: a warning, not a failure
        module.optional = True
    manifest = {
        module.name: COMPILED.source_hash(ROOT / path)
        for module, path in zip(modules, SOURCES, strict=True)
    }
    (ROOT / "aifap/backtest/compiled.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return built


setup(ext_modules=extensions())

"""Code versions of the assets, derived from the source text of the code that computes them.

An asset's ``code_version`` is the sha256 of the text of its own module and of every module of
``warehouse`` and ``schemas`` it imports, transitively, with the TOML files those modules name
(``credits.toml``, ``vocabulary.toml``…): editing the reader of a family, or its column map,
gives the assets of that family a new code version, and Dagster marks them stale
(https://docs.dagster.io/guides/build/assets/asset-versioning-and-caching). Nothing is typed by
hand. Other ``assets`` modules are not followed (they hold definitions, not the reading code).

Test hook, never to be set otherwise: ``BUDGET_TEST_CODE_SALT=<module>`` (e.g.
``warehouse.performance.files``) adds a salt to the text of that module, as an edit of it would.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_FOLLOWED = ("warehouse", "schemas")
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[\w \t,]+)|import[ \t]+([\w.]+))", re.MULTILINE
)
SALT_ENV = "BUDGET_TEST_CODE_SALT"


def _module_path(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _imports(text: str, module: str) -> set[str]:
    """The modules ``text`` (the source of ``module``, dotted) imports, relative imports resolved."""
    names = set()
    for package, members, plain in _IMPORT.findall(text):
        if plain:
            names.add(plain)
            continue
        if package.startswith("."):  # relative to the package of `module`
            dots = len(package) - len(package.lstrip("."))
            base = module.split(".")[:-dots]
            package = ".".join([*base, package.lstrip(".")] if package.lstrip(".") else base)
        names.add(package)
        for member in re.split(r"[\s,()]+", members):
            if member and member != "as" and package:
                names.add(f"{package}.{member}")  # `from warehouse import credits`: a module too
    return {n for n in names if n.split(".")[0] in _FOLLOWED}


@cache
def _tomls() -> tuple[Path, ...]:
    return tuple(sorted((ROOT / "schemas").rglob("*.toml")))


@cache
def _module(path: Path) -> tuple[str, tuple[Path, ...]]:
    """The text of the module at ``path`` and the files of the followed modules it imports, read once per
    process: the ~20 assets modules import much the same ``warehouse`` and ``schemas`` modules."""
    text = path.read_text(encoding="utf-8")
    dotted = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")  # a package: its __init__
    found = (_module_path(name) for name in sorted(_imports(text, dotted)))
    return text, tuple(p for p in found if p is not None)


@cache
def code_version(module_file: str) -> str:
    """The sha256 (16 hex) of the code an asset of ``module_file`` runs (see the module docstring)."""
    start = Path(module_file).resolve()
    seen: dict[Path, str] = {}
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path], imported = _module(path)
        todo.extend(p for p in imported if p not in seen)
    salt = os.environ.get(SALT_ENV, "")
    digest = hashlib.sha256()
    for path in sorted(seen):
        relative = path.relative_to(ROOT).as_posix()
        module = relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        digest.update(f"{relative}\0{seen[path]}\0{'salt' if salt == module else ''}\0".encode())
    texts = "".join(seen.values())
    for toml in _tomls():
        if toml.name in texts:
            digest.update(f"{toml.relative_to(ROOT).as_posix()}\0".encode() + toml.read_bytes())
    return digest.hexdigest()[:16]

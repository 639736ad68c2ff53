"""The rooms of the package import each other in one direction only (read from the source, no import).

core (models, transform, relational, privacy, metadata, errors) <- io, validation <- ml <- cli.
The core never imports Spark at module level (tests/unit/test_public_api.py runs that check in a
fresh interpreter); here: no room imports a room above it, and no module imports a private name
of another room.
"""
from __future__ import annotations

import ast
from pathlib import Path

import synthohive_spark

ROOT = Path(synthohive_spark.__file__).parent

# room -> rooms it must not import
FORBIDDEN = {
    "models": {"ml", "io", "validation", "cli", "session"},
    "transform": {"ml", "io", "validation", "cli", "session", "models", "relational"},
    "relational": {"ml", "io", "validation", "cli", "session", "models"},
    "privacy": {"ml", "io", "validation", "cli", "session", "models", "relational"},
    "metadata": {"ml", "io", "validation", "cli", "models"},
    "errors": {"ml", "io", "validation", "cli", "models", "metadata", "relational", "privacy",
               "transform", "session", "_spark"},
    "_spark": {"ml", "io", "validation", "cli", "models", "metadata", "relational", "privacy",
               "transform"},
    "io": {"ml", "validation", "cli"},
    "validation": {"ml", "cli"},
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "synthohive_spark" else ""


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            out.append((base, [a.name for a in node.names]))
    return out


def _sources() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "jars" not in p.parts)


def test_no_room_imports_a_room_above_it():
    wrong = []
    for path in _sources():
        me = _module_name(path)
        room = _room(me)
        for target, _ in _imports(path):
            if _room(target) in FORBIDDEN.get(room, set()):
                wrong.append(f"{me} imports {target}")
    assert not wrong, wrong


def test_no_module_imports_a_private_name_of_another_room():
    wrong = []
    for path in _sources():
        me = _module_name(path)
        for target, names in _imports(path):
            if not target.startswith("synthohive_spark") or _room(target) == _room(me):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                wrong.append(f"{me} imports {private} from {target}")
    assert not wrong, wrong

"""The design's rooms and who may call whom (../shared/design.md, "Rooms and who may call whom"),
checked on every import statement of the package, function-level imports included.

A room is the first name under `diffglat` (`diffglat.models.dat` -> models). Beyond the design's
table: `config` and `io` (atomic writes) are base modules every room may use, and the dictionary's
special token ids (`data.dictionary`) are the vocabulary contract models, losses and decoding share.
"""

from __future__ import annotations

import ast
from pathlib import Path

import diffglat

PACKAGE = Path(diffglat.__file__).parent
BASE = {"config", "io"}
ALLOWED = {  # room -> rooms (or room.module) it may import, besides itself and BASE
    "alignment": set(),
    "data": set(),
    "models": {"data.dictionary", "alignment"},
    "losses": {"models", "alignment", "data.dictionary"},
    "decoding": {"models", "alignment", "data.dictionary"},
    "training": {"data", "models", "losses"},
    "metrics": {"data"},
    "report": set(),
    "provenance": set(),
    "config": {"io"},
    "io": set(),
    "cli": {"*"},
    "__main__": {"cli"},
    "__init__": set(),
}
FORBIDDEN_PACKAGES = ("snakemake",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module
            # `from . import dag` names a module; `from .dag import x` names attributes of one
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names] if not node.module else []
            found.append((node.lineno, base))
    return found


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "diffglat":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def is_allowed(source_room: str, target: str) -> bool:
    target_room = room_of(target)
    if target_room is None or target == "diffglat":
        return True
    allowed = ALLOWED[source_room] | BASE | {source_room}
    if "*" in allowed or target_room in allowed:
        return True
    dotted = ".".join(target.split(".")[1:3])  # room.module, e.g. data.dictionary
    return any(dotted == a or dotted.startswith(a + ".") for a in allowed if "." in a)


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    room = room_of(module)
    found = []
    for line, target in imported_modules(source, module, is_package):
        if target.split(".")[0] in FORBIDDEN_PACKAGES:
            found.append(f"{module}:{line} imports {target} (nothing in the package may import it)")
        elif not is_allowed(room, target):
            found.append(f"{module}:{line} imports {target} ({room} may import {sorted(ALLOWED[room] | BASE)})")
    return found


def test_every_import_of_the_package_follows_the_design():
    problems = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 40
    for path in files:
        module = module_name(path)
        assert room_of(module) in ALLOWED, f"{path}: room {room_of(module)!r} is not in the design's table"
        problems += violations(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    assert not problems, "\n".join(problems)


def test_the_walker_catches_each_forbidden_edge():
    cases = {
        ("diffglat.models.dat", "from ..losses.dag import dag_loss"): "losses",
        ("diffglat.models.dat", "from ..training import Trainer"): "training",
        ("diffglat.report.tables", "from ..models import build_model"): "models",
        ("diffglat.metrics.mt", "import diffglat.models.output"): "models",
        ("diffglat.alignment.dag", "from ..data.dictionary import Dictionary"): "data",
        ("diffglat.models.nat", "from ..data.batching import pad_batch"): "batching",
        ("diffglat.training.trainer", "def f():\n    from snakemake.io import expand"): "snakemake",
    }
    for (module, source), culprit in cases.items():
        found = violations(source, module)
        assert len(found) >= 1 and culprit in found[0], (module, source, found)
    assert not violations("from ..data.dictionary import Dictionary\nfrom ..alignment import dag_match", "diffglat.models.dat")
    assert not violations("from . import dag\nfrom .output import DecoderOutput", "diffglat.models", is_package=True)

"""Each floor of the code imports only its own floor and the floors below it.

From the bottom up (``core/`` is Dagster-free; the API and the Dagster layer stand on it):

0. foundation: settings, errors, logs, alerts, the feature catalog, course-period keys
1. db: tables, engine, migrations, error redaction, timestamps
2. data: periods, cadence, courses, records (as of a date), students, marts, ingestion, datasets, actions
3. model: ``core/ml`` (features, fitting, judging, gate, tracking, loader)
4. reports: ``core/reports``, drift, notifications, the instructor's workspace, the feedback loop
5. access: roles, tokens, sessions, OIDC, the access log, rate limits (identity)
6. privacy: erasure, retention, rewriting stored results (they reach into everything below)
7. the API (``passcompass_api``)
8. the Dagster layer: definitions, assets, sensors, operations, the CLI (``passcompass_assets`` outside ``core``)

So the model never imports reports or access, the database never imports access, ``core`` never imports Dagster,
the API or the Dagster layer, and the API never imports the Dagster layer; migrations are run by the entry points
(``passcompass db upgrade``, the home's preparation), never by domain code. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = "passcompass_assets.core"
CORE_FLOORS: dict[str, tuple[str, ...]] = {
    "foundation": ("settings", "errors", "logs", "alerts", "catalog", "keys", "retry"),
    "db": ("db",),
    "data": (
        "periods",
        "cadence",
        "courses",
        "records",
        "students",
        "marts",
        "ingest",
        "activity",
        "rosters",
        "datasets",
        "actions",
    ),
    "model": ("ml",),
    "reports": ("reports", "drift", "notify", "workspace", "feedback"),
    "access": ("access",),
    "privacy": ("privacy",),
}
ORDER = [*CORE_FLOORS, "api", "dagster"]
DAGSTER_PACKAGES = ("dagster", "dagster_dbt", "dagster_postgres", "dagster_webserver")
MIGRATE = f"{CORE}.db.migrate"  # Alembic: run by the entry points only, never by domain code


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(module: str) -> str | None:
    """The floor of a first-party module; None for a third-party one (and for ``core`` itself, the package)."""
    if module == "passcompass_api" or module.startswith("passcompass_api."):
        return "api"
    if module == CORE or not module.startswith("passcompass_assets"):
        return None
    if not module.startswith(CORE + "."):
        return "dagster"
    first = module.removeprefix(CORE + ".").split(".")[0]
    return next((floor for floor, names in CORE_FLOORS.items() if first in names), "unplaced")


def imports(module: str, text: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every import in ``text`` (the source of ``module``), relative ones resolved;
    ``from x import y`` also yields ``x.y`` (``y`` may be a module)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                imported = ".".join([*base, node.module] if node.module else base)
            else:
                imported = node.module or ""
            found.append((node.lineno, imported))
            found += [(node.lineno, f"{imported}.{alias.name}") for alias in node.names]
    return found


def violations(module: str, text: str, is_package: bool = False) -> list[str]:
    """Why each import of ``module`` (its source ``text``) breaks the floors; empty when none does."""
    here = floor_of(module)
    if here is None:
        return []
    found: dict[int, str] = {}  # one per line: ``from x import y`` yields both x and x.y
    for line, imported in imports(module, text, is_package):
        there = floor_of(imported)
        where = f"{module}:{line} imports {imported}"
        if here in CORE_FLOORS and imported.split(".")[0] in DAGSTER_PACKAGES:
            found.setdefault(line, f"{where}: core is Dagster-free")
        elif there in ORDER and ORDER.index(there) > ORDER.index(here):
            found.setdefault(line, f"{where}: floor {here!r} may not import floor {there!r}")
        elif imported == MIGRATE and here in CORE_FLOORS and not module.startswith(f"{CORE}.db"):
            found.setdefault(line, f"{where}: only the entry points migrate (passcompass db upgrade, the home)")
    return list(found.values())


def sources() -> list[Path]:
    return sorted([*(ROOT / "passcompass_assets").rglob("*.py"), *(ROOT / "passcompass_api").rglob("*.py")])


def test_every_core_module_has_a_floor() -> None:
    unplaced = [str(p.relative_to(ROOT)) for p in sources() if floor_of(module_name(p)) == "unplaced"]
    assert not unplaced, f"place these in CORE_FLOORS: {unplaced}"


def test_each_floor_imports_only_downward() -> None:
    found = [
        v
        for path in sources()
        for v in violations(module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py")
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("passcompass_assets.core.ml.loader", "from passcompass_assets.core.reports.build import BANDS", "'reports'"),
        ("passcompass_assets.core.ml.fitting", "from ..reports import store", "'reports'"),
        ("passcompass_assets.core.db.engine", "from passcompass_assets.core.access import roles", "'access'"),
        ("passcompass_assets.core.reports.store", "from passcompass_assets.core.privacy import erasure", "'privacy'"),
        ("passcompass_assets.core.records", "import dagster as dg", "Dagster-free"),
        ("passcompass_assets.core.workspace", "from passcompass_api.deps import EngineDep", "'api'"),
        ("passcompass_assets.core.actions", "from passcompass_assets.resources import X", "'dagster'"),
        ("passcompass_api.main", "from passcompass_assets.operations import report", "'dagster'"),
        (
            "passcompass_assets.core.ml.integrity",
            "from passcompass_assets.core.db.migrate import ensure_schema",
            "entry",
        ),
    ],
)
def test_an_upward_import_is_caught(module: str, source: str, expected: str) -> None:
    """The check itself: each of these imports, added to the module, is reported; the module alone is not."""
    text = (ROOT / Path(*module.split("."))).with_suffix(".py").read_text(encoding="utf-8")
    assert violations(module, text) == []
    found = violations(module, text + "\n" + source + "\n")
    assert found and all(expected in v for v in found), found

"""The feature catalog: which columns exist, how to read them, when they are known, and what each is used for.

The built-in catalog (``feature_catalog.yaml``) is a default. A deployment catalog, the YAML file named by
``PASSCOMPASS_CATALOG``, extends it: new columns written as the built-in entries are, more aliases for existing
ones, and for any column its ``use``: ``feature`` (a model input), ``audit`` (stored for fairness audits, never a
model input) or ``ignore`` (dropped on upload like an unknown column). A file that does not parse, names a column
twice, gives an alias to two columns or changes a built-in column's type is refused with :class:`CatalogError`,
naming the file, the column and the problem.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ColumnType = Literal["string", "integer", "number", "boolean", "category", "date"]
Role = Literal["key", "feature", "label"]
Use = Literal["feature", "audit", "ignore"]
# When in a term a value becomes known, in order.
KNOWN_FROM = ("start", "interim_1", "interim_2", "end")
# Features the platform computes for each report date from the activity history (core/activity/engagement.py),
# never uploaded nor stored: the catalog describes them (and a deployment may turn one off) like any other.
ACTIVITY_FEATURES = (
    "active_days_last_7",
    "active_days_last_14",
    "events_last_7",
    "events_last_14",
    "days_since_active",
    "activity_before_term",
    "activity_vs_course",
)
BUILT_IN = Path(__file__).with_name("feature_catalog.yaml")
# Where the catalog and the template list a column, in this order: a university's columns first; the UCI school
# survey's and the client's first export's only under "other known columns", last (never in the template).
Group = Literal[
    "enrolment",
    "attendance and engagement",
    "coursework",
    "background kept for audits",
    "the institution's columns",
    "final grades",
    "other known columns",
]
GROUPS: tuple[Group, ...] = get_args(Group)
OTHER = "other known columns"
CATALOG_ENV = "PASSCOMPASS_CATALOG"
# What identifies a student's record: one student in one course period (every table and frame keyed by student).
RECORD_KEY: tuple[str, str, str] = ("user_id", "course_id", "period_id")


class CatalogError(ValueError):
    """A catalog file that cannot be used; nothing was changed because of it."""

    def __init__(self, path: Path | str, column: str | None, problem: str) -> None:
        self.path, self.column, self.problem = str(path), column, problem
        where = f"column {column!r}: " if column else ""
        super().__init__(f"catalog {self.path}: {where}{problem}")


def header_key(name: str) -> str:
    """How headers are matched: case-insensitive, ignoring blanks, '_' and '-'."""
    return re.sub(r"[\s_\-]+", "", name).lower()


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    role: Role
    description: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    min: float | None = None
    max: float | None = None
    known_from: str = "start"
    accumulates: bool = False
    # canonical value -> accepted spellings (matched case-insensitively)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    use: Use = "feature"  # for features: a model input, audit only, or ignored
    on_grade_scale: bool = False  # a grade on the course's own scale (0 to the course's grade_max)
    actionable: bool = True  # False: a fact a student brings along (past failures), shown as background only
    group: Group = "the institution's columns"  # where the catalog and the template list it

    @property
    def category_lookup(self) -> dict[str, str]:
        lookup: dict[str, str] = {}
        for value, spellings in self.categories.items():
            for spelling in (value, *spellings):
                lookup[spelling.strip().lower()] = value
        return lookup

    @property
    def from_activity(self) -> bool:
        """Computed from the activity history for each report date, never uploaded."""
        return self.name in ACTIVITY_FEATURES

    @property
    def stored(self) -> bool:
        """Kept in the database: keys, labels and every uploaded feature not ignored."""
        return self.role != "feature" or (self.use != "ignore" and not self.from_activity)


@dataclass(frozen=True)
class Catalog:
    columns: tuple[Column, ...]
    source: str = str(BUILT_IN)  # the file(s) it was read from

    def __getitem__(self, name: str) -> Column:
        return self.by_name[name]

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @property
    def header_lookup(self) -> dict[str, str]:
        """Normalised header spelling -> canonical name, for every column an upload may carry (not ignored ones)."""
        lookup: dict[str, str] = {}
        for column in self.columns:
            if column.stored:
                for spelling in (column.name, *column.aliases):
                    lookup[header_key(spelling)] = column.name
        return lookup

    @property
    def keys(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role == "key")

    @property
    def stored_features(self) -> tuple[Column, ...]:
        """Features kept in the database: uploaded model inputs and audit-only columns."""
        return tuple(c for c in self.columns if c.role == "feature" and c.stored)

    @property
    def inputs(self) -> tuple[Column, ...]:
        """Features the model may learn from (``use: feature``)."""
        return tuple(c for c in self.columns if c.role == "feature" and c.use == "feature")

    @property
    def audit(self) -> tuple[Column, ...]:
        """Features stored for fairness audits only, never model inputs."""
        return tuple(c for c in self.columns if c.role == "feature" and c.use == "audit")

    @property
    def labels(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role == "label")

    def inputs_known_at(self, stage: str) -> tuple[Column, ...]:
        """Model inputs whose values are known at ``stage`` of a term (never a label)."""
        upto = KNOWN_FROM.index(stage)
        return tuple(c for c in self.inputs if KNOWN_FROM.index(c.known_from) <= upto)

    @property
    def by_group(self) -> tuple[Column, ...]:
        """Every column, a university's groups first (``GROUPS``), in catalog order within a group."""
        return tuple(sorted(self.columns, key=lambda c: GROUPS.index(c.group)))

    def as_dict(self) -> dict[str, object]:
        """The effective catalog as JSON (``GET /api/v1/catalog``), grouped as the template is."""
        return {
            "source": self.source,
            "groups": list(GROUPS),
            "columns": [
                {
                    "name": c.name,
                    "type": c.type,
                    "role": c.role,
                    "use": c.use if c.role == "feature" else c.role,
                    "description": c.description,
                    "aliases": list(c.aliases),
                    "required": c.required,
                    "min": c.min,
                    "max": c.max,
                    "categories": list(c.categories),
                    "known_from": c.known_from,
                    "accumulates": c.accumulates,
                    "on_grade_scale": c.on_grade_scale,
                    "actionable": c.actionable,
                    "group": c.group,
                    "from_activity": c.from_activity,
                }
                for c in self.by_group
            ],
        }


class _Entry(BaseModel):
    """One entry of a catalog file, as written there (fields left out keep their built-in or default value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    type: ColumnType | None = None
    role: Role | None = None
    use: Use | None = None
    description: str | None = None
    aliases: tuple[str, ...] = ()
    required: bool | None = None
    min: float | None = None
    max: float | None = None
    known_from: Literal["start", "interim_1", "interim_2", "end"] | None = None
    accumulates: bool | None = None
    categories: dict[str, tuple[str, ...] | None] | None = None
    on_grade_scale: bool | None = None
    actionable: bool | None = None
    group: Group | None = None


def _parse(raw: dict[str, object], path: Path) -> _Entry:
    try:
        return _Entry.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CatalogError(path, str(raw.get("name")), f"{where}: {first['msg']}") from None


def upload_template(catalog: Catalog, every_column: bool = False) -> bytes:
    """A CSV a school fills in a spreadsheet and uploads as it is: the header alone, a university's columns in
    their groups' order (the catalog says what each holds). ``every_column`` adds the other known columns (the
    UCI school survey's and the like) after them."""
    accepted = [c for c in catalog.by_group if c.stored and c.role != "label" and (every_column or c.group != OTHER)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([c.name for c in accepted])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # with a BOM: spreadsheets then read UTF-8


def _column(entry: _Entry, path: Path, base: Column | None = None) -> Column:
    """The column an entry describes: a new one, or ``base`` with the entry's changes."""
    if base is None and entry.type is None:
        raise CatalogError(path, entry.name, "a new column needs a type")
    if base is not None and entry.type not in (None, base.type):
        raise CatalogError(path, entry.name, f"changes the built-in type {base.type} to {entry.type}")
    if base is not None and base.role != "feature" and entry.use not in (None, "feature"):
        raise CatalogError(path, entry.name, f"a {base.role} column is always kept; only features take a use")
    given = entry.model_dump(exclude_unset=True, exclude={"name", "aliases", "categories"})
    categories = {str(k): tuple(v or ()) for k, v in entry.categories.items()} if entry.categories is not None else None
    if base is None:
        column = Column(
            name=entry.name,
            type=entry.type or "string",
            role=entry.role or "feature",
            description=entry.description or entry.name.replace("_", " "),
            aliases=entry.aliases,
            categories=categories or {},
            **{k: v for k, v in given.items() if k not in ("type", "role", "description")},
        )
    else:
        column = replace(base, aliases=(*base.aliases, *entry.aliases), **given)
        if categories is not None:
            column = replace(column, categories=categories)
    _check(column, path)
    return column


def _check(column: Column, path: Path) -> None:
    numeric, bounded = column.type in ("integer", "number"), column.min is not None and column.max is not None
    problems = [
        (column.type == "category" and not column.categories, "a category column needs its categories"),
        (numeric and not bounded, "a number needs min and max"),
        (bounded and float(column.min or 0) > float(column.max or 0), "min is above max"),
    ]
    for failed, problem in problems:
        if failed:
            raise CatalogError(path, column.name, problem)


def _entries(path: Path) -> list[_Entry]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(path, None, f"cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise CatalogError(path, None, f"is not valid YAML ({type(exc).__name__})") from None
    raw = document.get("columns") if isinstance(document, dict) else None
    if not isinstance(raw, list) or not all(isinstance(e, dict) and "name" in e for e in raw):
        raise CatalogError(path, None, "needs a list `columns:` of entries, each with a `name`")
    entries = [_parse(e, path) for e in raw]
    names = [e.name for e in entries]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise CatalogError(path, twice[0], "named twice")
    return entries


def _check_aliases(columns: dict[str, Column], path: Path) -> None:
    owner: dict[str, str] = {}
    for column in columns.values():
        for spelling in (column.name, *column.aliases):
            key = header_key(spelling)
            if owner.setdefault(key, column.name) != column.name:
                raise CatalogError(path, column.name, f"alias {spelling!r} is also a name of {owner[key]}")


def read_catalog(deployment: Path | None = None) -> Catalog:
    """The built-in catalog, extended by ``deployment`` when given."""
    columns = {e.name: _column(e, BUILT_IN) for e in _entries(BUILT_IN)}
    if deployment is None:
        return Catalog(tuple(columns.values()))
    for entry in _entries(deployment):
        columns[entry.name] = _column(entry, deployment, columns.get(entry.name))
    _check_aliases(columns, deployment)
    return Catalog(tuple(columns.values()), source=f"{BUILT_IN} + {deployment}")


@cache
def _cached(deployment: str | None) -> Catalog:
    return read_catalog(Path(deployment) if deployment else None)


def load_catalog() -> Catalog:
    """The effective catalog of this process: the built-in one, extended by ``PASSCOMPASS_CATALOG`` if set."""
    return _cached(os.environ.get(CATALOG_ENV) or None)

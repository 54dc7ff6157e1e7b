"""The feature catalog (``feature_catalog.yaml``): which columns exist, how to read them, when they are known."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

ColumnType = Literal["string", "integer", "number", "boolean", "category", "date"]
Role = Literal["key", "feature", "label"]
# Stages of a term, in the order their values become known.
STAGES = ("start", "interim_1", "interim_2", "end")


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

    @property
    def category_lookup(self) -> dict[str, str]:
        lookup: dict[str, str] = {}
        for value, spellings in self.categories.items():
            for spelling in (value, *spellings):
                lookup[spelling.strip().lower()] = value
        return lookup


@dataclass(frozen=True)
class Catalog:
    columns: tuple[Column, ...]

    def __getitem__(self, name: str) -> Column:
        return self.by_name[name]

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @property
    def header_lookup(self) -> dict[str, str]:
        """Normalised header spelling -> canonical name."""
        lookup: dict[str, str] = {}
        for column in self.columns:
            for spelling in (column.name, *column.aliases):
                lookup[header_key(spelling)] = column.name
        return lookup

    @property
    def keys(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role == "key")

    @property
    def features(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def labels(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role == "label")

    def features_known_at(self, stage: str) -> tuple[Column, ...]:
        """Features whose values are known at ``stage`` of a term (never a label)."""
        upto = STAGES.index(stage)
        return tuple(c for c in self.features if STAGES.index(c.known_from) <= upto)


def _column(entry: dict) -> Column:
    categories = {str(k): tuple(str(s) for s in (v or ())) for k, v in (entry.get("categories") or {}).items()}
    return Column(
        name=entry["name"],
        type=entry["type"],
        role=entry["role"],
        description=entry["description"],
        aliases=tuple(entry.get("aliases", ())),
        required=bool(entry.get("required", False)),
        min=entry.get("min"),
        max=entry.get("max"),
        known_from=entry.get("known_from", "start"),
        accumulates=bool(entry.get("accumulates", False)),
        categories=categories,
    )


@cache
def load_catalog(path: Path | None = None) -> Catalog:
    path = path or Path(__file__).with_name("feature_catalog.yaml")
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["columns"]
    return Catalog(columns=tuple(_column(e) for e in entries))

"""Data-quality expectations (Great Expectations) derived from the feature catalog.

The same suite guards the landed uploads and the current student records: keys present, one row per
student x course x period, values inside the catalog's ranges and categories, no column outside the catalog.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from passcompass_assets.core.catalog import RECORD_KEY, Catalog, load_catalog

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

# Provenance columns the database adds next to the catalog's.
BOOKKEEPING = {"source_upload_id", "source_seq", "updated_at"}


def row_key(columns: list[str]) -> list[str]:
    """What identifies a row: the student, course and period, and the date when it is there (an upload may hold
    several dated snapshots of a student; the current state holds one)."""
    return [*RECORD_KEY, "as_of_date"] if "as_of_date" in columns else list(RECORD_KEY)


@dataclass
class QualityResult:
    success: bool
    evaluated: int
    failures: list[dict[str, object]] = field(default_factory=list)

    def summary(self) -> str:
        if self.success:
            return f"all {self.evaluated} expectations met"
        names = ", ".join(f"{f['expectation']}({f['column']})" for f in self.failures)
        return f"{len(self.failures)} of {self.evaluated} expectations failed: {names}"


def _suite(catalog: Catalog, columns: list[str], keys: list[str]) -> list[Expectation]:
    import great_expectations as gx

    expectations: list[Expectation] = [
        # Exactly the frame's allowed columns: any column outside the catalog breaks the match.
        gx.expectations.ExpectTableColumnsToMatchSet(
            column_set=[c for c in columns if c in catalog.by_name or c in BOOKKEEPING], exact_match=True
        ),
        gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=keys),
    ]
    expectations += [gx.expectations.ExpectColumnValuesToNotBeNull(column=key) for key in RECORD_KEY]
    for name in columns:
        column = catalog.by_name.get(name)
        if column is None:
            continue
        if column.type in ("integer", "number") and (column.min is not None or column.max is not None):
            expectations.append(
                gx.expectations.ExpectColumnValuesToBeBetween(column=name, min_value=column.min, max_value=column.max)
            )
        elif column.type == "category":
            expectations.append(
                gx.expectations.ExpectColumnValuesToBeInSet(column=name, value_set=list(column.categories))
            )
    return expectations


def check_frame(frame: pd.DataFrame, catalog: Catalog | None = None, keys: list[str] | None = None) -> QualityResult:
    """Validate ``frame`` with Great Expectations against the catalog; ``keys`` identify a row (default: the
    student, course and period)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    catalog = catalog or load_catalog()
    # GE's pandas engine expects plain dtypes: nullable integers/booleans/strings become float/object.
    plain = frame.astype({c: "float64" for c in frame.columns if str(frame[c].dtype) in ("Int64", "boolean")})
    plain = plain.astype({c: "object" for c in plain.columns if str(plain[c].dtype) == "string"})

    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (
        context.data_sources.add_pandas("passcompass")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": plain})
    )
    suite = context.suites.add(
        gx.ExpectationSuite(name="catalog", expectations=_suite(catalog, list(frame.columns), keys or list(RECORD_KEY)))
    )
    # BASIC: the counts the failures below report. GE's default (SUMMARY) also tallies the unexpected values and
    # their rows, which nothing reads; that costs about 40 % of validating a large upload.
    result = batch.validate(suite, result_format="BASIC")
    failures = [
        {
            "expectation": config.type,
            "column": config.kwargs.get("column") or config.kwargs.get("column_list"),
            "unexpected_count": r.result.get("unexpected_count"),
            "observed": r.result.get("observed_value"),
        }
        for r in result.results
        if not r.success and (config := r.expectation_config) is not None
    ]
    return QualityResult(success=bool(result.success), evaluated=len(result.results), failures=failures)

"""Render the feature catalog into a dbt macro, so the SQL models list exactly the catalog's features.

dbt cannot read ``feature_catalog.yaml`` itself, so ``dbt/macros/catalog_features.sql`` is generated from it and
committed; a test fails when the two drift. Regenerate with ``python -m passcompass_assets.features.catalog_macro``.
"""

from __future__ import annotations

import json
from pathlib import Path

from passcompass_assets.core.catalog import Catalog, load_catalog
from passcompass_assets.features.dbt_project import DBT_PROJECT_DIR

MACRO_PATH = DBT_PROJECT_DIR / "macros" / "catalog_features.sql"

_HEADER = """\
{#- GENERATED from passcompass_assets/core/feature_catalog.yaml; do not edit.
    Regenerate: python -m passcompass_assets.features.catalog_macro
    Every model input (role: feature), in catalog order; labels such as final_grade are not features. -#}
"""


def render_catalog_macro(catalog: Catalog | None = None) -> str:
    catalog = catalog or load_catalog()
    entries = [json.dumps({"name": c.name, "type": c.type, "known_from": c.known_from}) for c in catalog.features]
    body = ",\n".join(f"    {entry}" for entry in entries)
    return f"{_HEADER}{{% macro catalog_features() %}}\n  {{{{ return([\n{body}\n  ]) }}}}\n{{% endmacro %}}\n"


def write_catalog_macro(path: Path = MACRO_PATH) -> bool:
    """Write the macro; True when the file changed."""
    text = render_catalog_macro()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    print(f"{'updated' if write_catalog_macro() else 'unchanged'}: {MACRO_PATH}")

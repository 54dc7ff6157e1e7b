"""Features: the dbt project (staging, student_features, training_set) and its Dagster bridge.

``dbt_feature_assets`` and ``dbt_resource`` are loaded on first use: importing them parses the dbt project and
pulls in Dagster, which Dagster-free users of ``passcompass_assets.features.tables`` (the API, the model) must not
pay for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from passcompass_assets.features.assets import dbt_feature_assets
    from passcompass_assets.features.dbt_project import dbt_resource

__all__ = ["dbt_feature_assets", "dbt_resource"]


def __getattr__(name: str) -> Any:
    if name == "dbt_feature_assets":
        from passcompass_assets.features.assets import dbt_feature_assets

        return dbt_feature_assets
    if name == "dbt_resource":
        from passcompass_assets.features.dbt_project import dbt_resource

        return dbt_resource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

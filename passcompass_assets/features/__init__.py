"""Features domain: the dbt project (staging and marts) as Dagster assets, its dbt tests as asset checks."""

from passcompass_assets.features.assets import dbt_feature_assets
from passcompass_assets.features.dbt_project import dbt_resource

__all__ = ["dbt_feature_assets", "dbt_resource"]

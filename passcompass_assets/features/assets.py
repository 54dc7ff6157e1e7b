"""The dbt models as Dagster assets (group ``features``), downstream of the ingestion assets; dbt tests as checks.

Sources map onto the Python assets that write them: ``final_grades`` onto ``final_grades``, and
``student_records``, ``record_versions`` and ``courses`` onto ``student_records``, because one ``apply_upload``
transaction writes a student's row, its dated version and its course's row; separate keys would be stubs no asset
ever materialises.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from passcompass_assets.features.dbt_project import DBT_PROJECT, dbt_environ, ensure_manifest
from passcompass_assets.resources import PlatformResource

GROUP_NAME = "features"
SOURCE_ASSET_KEYS = {
    "student_records": AssetKey("student_records"),
    "courses": AssetKey("student_records"),
    "record_versions": AssetKey("student_records"),
    "final_grades": AssetKey("final_grades"),
}


class FeatureTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return SOURCE_ASSET_KEYS[dbt_resource_props["name"]]
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP_NAME


TRANSLATOR = FeatureTranslator(
    # Two sources share the ``student_records`` key (see the module docstring); dbt tests become asset checks.
    settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True, enable_asset_checks=True)
)


@dbt_assets(
    manifest=ensure_manifest(),
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_feature_assets",
)
def dbt_feature_assets(
    context: AssetExecutionContext, dbt: DbtCliResource, platform: PlatformResource
) -> Iterator[Any]:
    """``dbt build`` of the selected models and their tests, on the platform's operational database."""
    with dbt_environ(platform.settings):
        yield from dbt.cli(["build"], context=context).stream()

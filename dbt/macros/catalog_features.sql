{#- The stored features of the effective catalog (the built-in one and a deployment's PASSCOMPASS_CATALOG), in
    catalog order: model inputs and audit columns, never ignored ones nor labels. dbt cannot read the catalog's
    YAML, so passcompass_assets/features/dbt_project.py hands it over as JSON in PASSCOMPASS_DBT_CATALOG. -#}
{% macro catalog_features() %}
  {{ return(fromjson(env_var('PASSCOMPASS_DBT_CATALOG'))) }}
{% endmacro %}

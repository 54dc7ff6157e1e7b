{#- Portable typing: the same SQL must give the same values on SQLite and PostgreSQL. -#}

{#- A catalog feature cast to its catalog type. Booleans become 0/1 integers: SQLite has no boolean type
    (it stores 0/1), so integers are the one representation both databases and the model agree on. -#}
{% macro typed_feature(feature, relation_alias=none) -%}
  {%- set column = (relation_alias ~ '.' if relation_alias else '') ~ feature['name'] -%}
  {%- if feature['type'] == 'integer' -%}
    cast({{ column }} as {{ dbt.type_int() }})
  {%- elif feature['type'] == 'number' -%}
    cast({{ column }} as {{ dbt.type_float() }})
  {%- elif feature['type'] == 'boolean' -%}
    {{ bool_to_int(column) }}
  {%- elif feature['type'] == 'date' -%}
    {{ to_date(column) }}
  {%- else -%}
    cast(trim({{ column }}) as {{ dbt.type_string() }})
  {%- endif -%}
{%- endmacro %}

{#- 1 when true, 0 when false, null when unknown; works on real booleans and on SQLite's 0/1. -#}
{% macro bool_to_int(expression) -%}
  case when {{ expression }} then 1 when not ({{ expression }}) then 0 end
{%- endmacro %}

{#- A date column as a date: SQLite keeps ISO text, and cast(.. as date) there would yield a number. -#}
{% macro to_date(expression) -%}
  {{ return(adapter.dispatch('to_date', 'passcompass')(expression)) }}
{%- endmacro %}

{% macro default__to_date(expression) -%}
  cast({{ expression }} as date)
{%- endmacro %}

{% macro sqlite__to_date(expression) -%}
  date({{ expression }})
{%- endmacro %}

{#- numerator / denominator as a float, null when the denominator is 0 or null (no integer division). -#}
{% macro safe_fraction(numerator, denominator) -%}
  cast({{ numerator }} as {{ dbt.type_float() }}) / nullif(cast({{ denominator }} as {{ dbt.type_float() }}), 0)
{%- endmacro %}

{#- An index on a mart's keys, created after the table is built (a post-hook): reading one course period of a
    large history must not scan it whole, and joining it by student (training_set) must not scan a course period
    per student (on SQLite that took 6 minutes of the OULAD benchmark). -#}
{% macro course_period_index(relation) -%}
  {{ return(adapter.dispatch('course_period_index', 'passcompass')(relation)) }}
{%- endmacro %}

{% macro default__course_period_index(relation) -%}
  create index if not exists {{ relation.identifier }}_course_period_user on {{ relation }} (course_id, period_id, user_id)
{%- endmacro %}

{% macro sqlite__course_period_index(relation) -%}
  create index if not exists {{ relation.schema }}.{{ relation.identifier }}_course_period_user
    on {{ relation.identifier }} (course_id, period_id, user_id)
{%- endmacro %}

{#- Grade scale per course and period; pass_fraction puts pass marks of different scales on one 0-1 scale. -#}
select
    trim(course_id) as course_id,
    trim(period_id) as period_id,
    cast(grade_max as {{ dbt.type_float() }}) as grade_max,
    cast(pass_mark as {{ dbt.type_float() }}) as pass_mark,
    {{ safe_fraction('pass_mark', 'grade_max') }} as pass_fraction
from {{ source('passcompass', 'courses') }}

{{ config(post_hook="{{ course_period_index(this) }}") }}
{#- The history of every student's record (one row per dated version) with the course's grade scale: what the
    model's point-in-time training rows are built from. A typed join, no derivation. -#}
select
    v.*,
    c.grade_max,
    c.pass_mark
from {{ ref('stg_record_versions') }} as v
left join {{ ref('stg_courses') }} as c
    on v.course_id = c.course_id and v.period_id = c.period_id

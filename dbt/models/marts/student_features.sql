{#- One row per student x course x period: every catalog feature under its canonical name, the course's grade
    scale, and what the model derives from the interim grades. Never the final grade: that is a label and
    lives in training_set only. -#}
with students as (
    select * from {{ ref('stg_student_records') }}
),

courses as (
    select * from {{ ref('stg_courses') }}
)

select
    s.user_id,
    s.course_id,
    s.period_id,
    s.as_of_date,
    {%- for feature in catalog_features() %}
    s.{{ feature['name'] }},
    {%- endfor %}
    c.grade_max,
    c.pass_mark,
    c.pass_fraction,
    case when s.interim_grade_1 is not null then 1 else 0 end as has_interim_grade_1,
    case when s.interim_grade_2 is not null then 1 else 0 end as has_interim_grade_2,
    -- The furthest point of the term the data reflects: a second interim grade implies the first has passed.
    case
        when s.interim_grade_2 is not null then 'interim_2'
        when s.interim_grade_1 is not null then 'interim_1'
        else 'no_interim'
    end as stage,
    {{ safe_fraction('s.interim_grade_1', 'c.grade_max') }} as interim_grade_1_fraction,
    {{ safe_fraction('s.interim_grade_2', 'c.grade_max') }} as interim_grade_2_fraction,
    {{ safe_fraction('s.interim_grade_2 - s.interim_grade_1', 'c.grade_max') }} as interim_grade_change,
    s.record_updated_at
-- A left join, so that a student whose course row is missing fails the not_null tests instead of vanishing.
from students as s
left join courses as c
    on s.course_id = c.course_id and s.period_id = c.period_id

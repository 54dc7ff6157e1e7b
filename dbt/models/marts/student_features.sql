{#- One row per student x course x period: every catalog feature under its canonical name, typed, with the
    course's grade scale. A typed join only: what the model derives (the stage, grades relative to the pass
    mark, trends) is derived once, in Python (passcompass_assets/core/ml/features.py), for training and scoring
    alike. Never the final grade: that is a label and lives in training_set only. -#}
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
    s.enrolment_status,
    s.withdrawal_date,
    {%- for feature in catalog_features() %}
    s.{{ feature['name'] }},
    {%- endfor %}
    c.grade_max,
    c.pass_mark,
    s.record_updated_at
-- A left join, so that a student whose course row is missing fails the not_null tests instead of vanishing.
from students as s
left join courses as c
    on s.course_id = c.course_id and s.period_id = c.period_id

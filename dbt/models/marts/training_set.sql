{{ config(post_hook="{{ course_period_index(this) }}") }}
{#- The history of every student with a final grade, with that grade (the label): the model builds one training
    row per student and report date from it, as known on that date (passcompass_assets/core/records.py).
    Whether a grade fails the course's pass mark is decided in Python, with the model. Final grades without a
    student row are left out (and flagged by a warning test). -#}
select
    h.*,
    g.final_grade
from {{ ref('record_history') }} as h
inner join {{ ref('stg_final_grades') }} as g
    on h.user_id = g.user_id and h.course_id = g.course_id and h.period_id = g.period_id

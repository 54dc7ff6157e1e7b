{#- student_features of every student with a final grade, and that grade (the label; whether it fails the
    course's pass mark is decided in Python, with the model). Final grades without a student row are left out
    (and flagged by a warning test). -#}
select
    f.*,
    g.final_grade
from {{ ref('student_features') }} as f
inner join {{ ref('stg_final_grades') }} as g
    on f.user_id = g.user_id and f.course_id = g.course_id and f.period_id = g.period_id

{#- student_features of every student with a final grade, with the label: the final grade and whether it fails
    the course's pass mark. Final grades without a student row are left out (and flagged by a warning test). -#}
select
    f.*,
    g.final_grade,
    {{ safe_fraction('g.final_grade', 'f.grade_max') }} as final_grade_fraction,
    case when g.final_grade < f.pass_mark then 1 when g.final_grade >= f.pass_mark then 0 end as failed
from {{ ref('student_features') }} as f
inner join {{ ref('stg_final_grades') }} as g
    on f.user_id = g.user_id and f.course_id = g.course_id and f.period_id = g.period_id

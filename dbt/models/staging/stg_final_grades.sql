{#- Final grades (labels) per student x course x period, on the course's grade scale. -#}
with source as (
    select * from {{ source('passcompass', 'final_grades') }}
),

renamed as (
    select
        trim(user_id) as user_id,
        trim(course_id) as course_id,
        trim(period_id) as period_id,
        cast(final_grade as {{ dbt.type_float() }}) as final_grade,
        source_upload_id,
        cast(source_seq as {{ dbt.type_int() }}) as source_seq,
        updated_at as grade_updated_at
    from source
)

select * from renamed

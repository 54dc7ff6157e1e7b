{#- Current state per student x course x period: keys trimmed, every catalog feature cast to its catalog type
    (booleans as 0/1), provenance renamed. -#}
with source as (
    select * from {{ source('passcompass', 'student_records') }}
),

renamed as (
    select
        trim(user_id) as user_id,
        trim(course_id) as course_id,
        trim(period_id) as period_id,
        {{ to_date('as_of_date') }} as as_of_date,
        cast(trim(enrolment_status) as {{ dbt.type_string() }}) as enrolment_status,
        {{ to_date('withdrawal_date') }} as withdrawal_date,
        {%- for feature in catalog_features() %}
        {{ typed_feature(feature) }} as {{ feature['name'] }},
        {%- endfor %}
        source_upload_id,
        cast(source_seq as {{ dbt.type_int() }}) as source_seq,
        updated_at as record_updated_at
    from source
)

select * from renamed

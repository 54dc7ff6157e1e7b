{#- Every dated version of a student's record, typed like stg_student_records: valid from its date, in arrival
    order (source_seq) within a day. Which columns each version's upload carried is the upload registry's
    (uploads.columns); the as-of rule that merges them is Python's (passcompass_assets/core/records.py). -#}
with source as (
    select * from {{ source('passcompass', 'record_versions') }}
)

select
    trim(user_id) as user_id,
    trim(course_id) as course_id,
    trim(period_id) as period_id,
    {{ to_date('valid_from') }} as valid_from,
    cast(source_seq as {{ dbt.type_int() }}) as source_seq,
    {{ to_date('as_of_date') }} as as_of_date,
    cast(trim(enrolment_status) as {{ dbt.type_string() }}) as enrolment_status,
    {{ to_date('withdrawal_date') }} as withdrawal_date,
    {%- for feature in catalog_features() %}
    {{ typed_feature(feature) }} as {{ feature['name'] }},
    {%- endfor %}
    source_upload_id
from source

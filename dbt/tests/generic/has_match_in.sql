{#- Fails for each row of the model with no row of `to` sharing all of `columns`: a relationships test on a
    composite key, joined column by column (a join on a computed key would be quadratic on SQLite). -#}
{% test has_match_in(model, to, columns) %}
select {% for column in columns %}m.{{ column }}{{ ", " if not loop.last }}{% endfor %}
from {{ model }} as m
left join {{ to }} as t
    on {% for column in columns %}m.{{ column }} = t.{{ column }}{{ " and " if not loop.last }}{% endfor %}
where t.{{ columns[0] }} is null
{% endtest %}

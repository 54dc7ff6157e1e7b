"""The platform's data-protection duties: they reach into records, reports, evaluations, marts and logs.

- :mod:`.erasure`: erase a student everywhere, and purge a period's student-level data.
- :mod:`.retention`: purge periods past their retention, and the access log past its own.
- :mod:`.rewrite`: stored reports and evaluations rewritten without some students.
"""

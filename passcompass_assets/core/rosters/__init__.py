"""Rosters: a student information system's export of terms, classes and enrolments (OneRoster CSV), read
(``oneroster``) and turned into the platform's periods, courses and students, or previewed (``receive``)."""

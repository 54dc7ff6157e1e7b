"""Who may do what, and the platform's data-protection duties; Dagster-free, shared by the API, the CLI and jobs.

- :mod:`.roles`: the four roles and a :class:`~.roles.Principal` (who is asking: a token or an OIDC subject).
- :mod:`.tokens`: API tokens (only a hash stored) and one-time sign-in links; :mod:`.oidc`: OpenID Connect.
- :mod:`.sessions`: the web page's signed session cookie, its CSRF token, and the open sessions the server ends.
- :mod:`.audit`: the access log (every download of a report, evaluation or prediction).
- :mod:`.erasure`: erase a student everywhere; :mod:`.retention`: purge periods past their retention.
- :mod:`.ratelimit`: per-principal rate limits; :mod:`.redact`: database errors without the values.
"""

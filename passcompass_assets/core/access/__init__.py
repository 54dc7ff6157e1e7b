"""Who may do what; Dagster-free, shared by the API, the CLI and jobs (the data-protection duties are
:mod:`passcompass_assets.core.privacy`).

- :mod:`.roles`: the four roles and a :class:`~.roles.Principal` (who is asking: a token or an OIDC subject).
- :mod:`.tokens`: API tokens (only a hash stored) and one-time sign-in links; :mod:`.oidc`: OpenID Connect.
- :mod:`.sessions`: the web page's signed session cookie, its CSRF token, and the open sessions the server ends;
  :mod:`.keys`: the platform key.
- :mod:`.audit`: the access log (every download of a report, evaluation or prediction).
- :mod:`.ratelimit`: per-principal rate limits.
"""

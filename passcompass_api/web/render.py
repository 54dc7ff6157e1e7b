"""The pages' one template environment and one render.

Every HTML page gets a fresh nonce and the one Content-Security-Policy: only the page's own inline style and script
(those carrying the nonce) run, nothing loads from another host, no other site may frame it; and ``no-store``,
since a page names students.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from passcompass_api.web.filters import FILTERS

templates = Environment(
    loader=PackageLoader("passcompass_api.web", "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True
)
templates.filters.update(FILTERS)
POLICY = (
    "default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def page(write: Callable[[str], str], status: int = 200) -> HTMLResponse:
    """The page ``write`` makes given its nonce, under the policy that lets that nonce's style and script run."""
    nonce = secrets.token_urlsafe(16)
    headers = {"Content-Security-Policy": POLICY.format(nonce=nonce), "Cache-Control": "no-store"}
    return HTMLResponse(write(nonce), status_code=status, headers=headers)


def render(template: str, context: Mapping[str, object], status: int = 200) -> HTMLResponse:
    """A template of ``templates/`` as a page; it gets ``nonce`` besides ``context``."""
    return page(lambda nonce: templates.get_template(template).render(nonce=nonce, **context), status)

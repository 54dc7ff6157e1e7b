"""OpenID Connect: bearer JWTs checked against the issuer's JWKS (PyJWT), and the web page's sign-in by the
authorization-code flow with PKCE.

Settings (``PASSCOMPASS_OIDC_*``): the issuer; the audience bearer tokens must carry (default: the client id);
the JWKS, authorization and token endpoints (default: from the issuer's discovery document); the claims that hold
the roles and the courses (a dotted path such as ``realm_access.roles``; a list, or a space- or comma-separated
string), and a prefix the roles carry there (``passcompass-`` makes ``passcompass-admin`` the admin role).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from passcompass_assets.core.access.roles import ROLES, Principal, Role
from passcompass_assets.core.settings import Settings

DISCOVERY_TTL_SECONDS = 3600.0
HTTP_TIMEOUT_SECONDS = 10.0
LEEWAY_SECONDS = 30


class OidcError(Exception):
    """A token or a sign-in that does not check out; the message says why (never the token itself)."""


def split_list(text: str | None) -> list[str]:
    """A setting or claim holding several values: comma- or space-separated."""
    return [part for part in (text or "").replace(",", " ").split() if part]


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str | None = None
    client_secret: str | None = None
    audience: str | None = None
    jwks_url: str | None = None
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    roles_claim: str = "roles"
    courses_claim: str = "courses"
    role_prefix: str = ""
    algorithms: tuple[str, ...] = ("RS256",)
    scopes: str = "openid profile"

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        if not settings.oidc_issuer:
            return None
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            authorization_endpoint=settings.oidc_authorization_endpoint,
            token_endpoint=settings.oidc_token_endpoint,
            roles_claim=settings.oidc_roles_claim,
            courses_claim=settings.oidc_courses_claim,
            role_prefix=settings.oidc_role_prefix,
            algorithms=tuple(split_list(settings.oidc_algorithms)) or ("RS256",),
            scopes=settings.oidc_scopes,
        )

    @property
    def page_signin(self) -> bool:
        """Whether the web page signs in through the provider (it needs a client id)."""
        return bool(self.client_id)

    def endpoint(self, name: str) -> str:
        """``jwks_uri``, ``authorization_endpoint`` or ``token_endpoint``: the setting, else discovery's."""
        configured = {
            "jwks_uri": self.jwks_url,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
        }[name]
        if configured:
            return configured
        value = discovery(self.issuer).get(name)
        if not isinstance(value, str) or not value:
            raise OidcError(f"the issuer's discovery document names no {name}")
        return value


_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
_jwk_clients: dict[str, jwt.PyJWKClient] = {}
_lock = threading.Lock()


def _get_json(url: str, data: bytes | None = None) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - configured URL
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise OidcError(f"the identity provider did not answer as expected ({type(exc).__name__})") from exc
    if not isinstance(body, dict):
        raise OidcError("the identity provider's answer is not a JSON object")
    return body


def discovery(issuer: str) -> dict[str, Any]:
    """The issuer's ``/.well-known/openid-configuration``, kept for an hour."""
    with _lock:
        cached = _discovered.get(issuer)
    if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_SECONDS:
        return cached[1]
    document = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    with _lock:
        _discovered[issuer] = (time.monotonic(), document)
    return document


def _jwk_client(url: str) -> jwt.PyJWKClient:
    with _lock:
        client = _jwk_clients.get(url)
        if client is None:
            # Keys are kept (lifespan 5 min); an unknown key id fetches the set again (a key rotation).
            client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=int(HTTP_TIMEOUT_SECONDS))
            _jwk_clients[url] = client
    return client


def verify_jwt(config: OidcConfig, token: str, *, audience: str | None = None, nonce: str | None = None) -> dict:
    """The claims of a JWT signed by one of the issuer's keys, for the expected audience, unexpired."""
    expected = audience or config.audience or config.client_id
    try:
        signing_key = _jwk_client(config.endpoint("jwks_uri")).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=list(config.algorithms),
            audience=expected,
            issuer=config.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "sub"], "verify_aud": expected is not None},
        )
    except jwt.PyJWKClientError as exc:
        raise OidcError(f"no key of the issuer verifies the token: {exc}") from exc
    except jwt.PyJWTError as exc:
        raise OidcError(f"the token is not valid: {type(exc).__name__}") from exc
    if nonce is not None and not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OidcError("the ID token's nonce does not match the sign-in")
    return claims


def _claim(claims: dict[str, Any], path: str) -> object:
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _values(value: object) -> list[str]:
    if isinstance(value, str):
        return split_list(value)
    if isinstance(value, list | tuple):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []


def principal_from_claims(config: OidcConfig, claims: dict[str, Any]) -> Principal:
    """Roles (those named by the roles claim, prefix removed) and courses from the claims; the subject's id."""
    named = {v.removeprefix(config.role_prefix) for v in _values(_claim(claims, config.roles_claim))}
    roles: frozenset[Role] = frozenset(role for role in ROLES if role in named)
    courses = frozenset(_values(_claim(claims, config.courses_claim)))
    return Principal(f"oidc:{claims['sub']}"[:200], roles, courses, via="oidc")


# --- the web page's sign-in: authorization code with PKCE ----------------------------------------------------------


@dataclass(frozen=True)
class SigninStart:
    url: str  # where to send the browser
    state: str
    nonce: str
    verifier: str  # the PKCE code verifier, kept (signed) in a short-lived cookie until the callback


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def begin_signin(config: OidcConfig, redirect_uri: str) -> SigninStart:
    if not config.client_id:
        raise OidcError("no OIDC client id is configured")
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    query = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": config.scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    }
    endpoint = config.endpoint("authorization_endpoint")
    separator = "&" if "?" in endpoint else "?"
    return SigninStart(endpoint + separator + urllib.parse.urlencode(query), state, nonce, verifier)


def finish_signin(config: OidcConfig, redirect_uri: str, code: str, verifier: str, nonce: str) -> dict[str, Any]:
    """Exchange the code for tokens at the token endpoint; the ID token's claims, verified."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": config.client_id or "",
        "code_verifier": verifier,
    }
    if config.client_secret:
        form["client_secret"] = config.client_secret
    answer = _get_json(config.endpoint("token_endpoint"), urllib.parse.urlencode(form).encode())
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError("the token endpoint returned no ID token")
    return verify_jwt(config, id_token, audience=config.client_id, nonce=nonce)

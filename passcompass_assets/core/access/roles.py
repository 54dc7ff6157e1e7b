"""The four roles and who is asking.

=============  ==============================================================================================
role           may
=============  ==============================================================================================
``admin``      everything: every course, tokens, erasure, the access log, periods
``uploader``   upload student data and final grades, see their upload's status; no downloads
``instructor`` reports, evaluations and predictions of the courses granted, and ask for a report now
``viewer``     read the reports and evaluations of the courses granted; nothing that changes anything
=============  ==============================================================================================

Courses are granted to instructors and viewers (``*``: every course); admins and uploaders are platform-wide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

Role = Literal["admin", "uploader", "instructor", "viewer"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
ADMIN: Final[Role] = "admin"
UPLOADER: Final[Role] = "uploader"
INSTRUCTOR: Final[Role] = "instructor"
VIEWER: Final[Role] = "viewer"
ALL_COURSES: Final = "*"
# Roles whose access is limited to the courses granted to them.
COURSE_SCOPED: Final[frozenset[Role]] = frozenset({INSTRUCTOR, VIEWER})


def parse_role(value: str) -> Role:
    for role in ROLES:
        if value == role:
            return role
    raise ValueError(f"unknown role {value!r}: one of {', '.join(ROLES)}")


@dataclass(frozen=True)
class Principal:
    """Who is asking: ``id`` is what the access log records ("token:<id>" or "oidc:<subject>")."""

    id: str
    roles: frozenset[Role]
    courses: frozenset[str] = field(default_factory=frozenset)  # granted courses; "*": all
    via: Literal["token", "oidc", "session"] = "token"
    csrf: str | None = None  # the session's CSRF token, when the credential is the page's session cookie

    def has(self, *roles: Role) -> bool:
        """True when the principal holds one of ``roles`` (an admin holds every role)."""
        return ADMIN in self.roles or any(role in self.roles for role in roles)

    @property
    def all_courses(self) -> bool:
        return bool(self.roles - COURSE_SCOPED) or ALL_COURSES in self.courses

    def may_see(self, course_id: str) -> bool:
        """Whether the principal's grant covers ``course_id``."""
        return self.all_courses or course_id in self.courses

    def visible(self, course_ids: list[str] | set[str]) -> list[str]:
        return sorted(c for c in course_ids if self.may_see(c))

    @property
    def label(self) -> str:
        return f"{self.id} ({', '.join(sorted(self.roles))})"

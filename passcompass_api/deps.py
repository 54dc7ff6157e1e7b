"""The routes' named dependencies and parameters, each spelled once (the FastAPI template's ``api/deps.py``).

A route takes ``engine: EngineDep`` rather than ``Annotated[Engine, Depends(get_db)]``, and ``course_id: IdQuery``
rather than the query's bounds: every id in a path, query or form is at most ``MAX_ID_LENGTH`` characters, as an
upload's ids are.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Path, Query, Request
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.engine import get_engine
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.validation import MAX_ID_LENGTH
from passcompass_assets.core.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Engine:
    return get_engine(request.app.state.settings.db_url)


def get_landing(request: Request) -> LandingStore:
    return LandingStore(request.app.state.settings.landing_dir)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_db)]
LandingDep = Annotated[LandingStore, Depends(get_landing)]

# No text in a URL holds a NUL (middleware.RejectNul refuses one); said in the document too.
NO_NUL = r"^[^\x00]*$"
IdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL)]
# An id something is done to (a student to erase): not only spaces either.
NON_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"
TargetIdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=NON_BLANK)]
IdQuery = Annotated[str, Query(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL)]
# Absent, or a non-empty id (an empty one is refused).
MaybeIdQuery = Annotated[str | None, Query(min_length=1, max_length=MAX_ID_LENGTH, pattern=NO_NUL)]
# Absent, empty or an id: the routes read an empty one as absent.
IdOrBlankQuery = Annotated[str | None, Query(max_length=MAX_ID_LENGTH, pattern=NO_NUL)]
IdOrBlankForm = Annotated[str | None, Form(max_length=MAX_ID_LENGTH)]  # the upload's validator reads it

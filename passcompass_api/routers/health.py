"""Liveness that means something: the database answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import text
from sqlalchemy.engine import Engine

from passcompass_api.dependencies import get_db
from passcompass_api.schemas import ErrorOut, Health

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": ErrorOut}})
def health(engine: Annotated[Engine, Depends(get_db)]) -> Health:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok", database=engine.dialect.name)

"""Liveness that means something: the database answers."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from passcompass_api.deps import EngineDep
from passcompass_api.schemas import ErrorOut, Health

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": ErrorOut}})
def health(engine: EngineDep) -> Health:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok", database=engine.dialect.name)

"""Shared request dependencies: settings, database engine and landing store of the running app."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.engine import get_engine
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Engine:
    return get_engine(request.app.state.settings.db_url)


def get_landing(request: Request) -> LandingStore:
    return LandingStore(request.app.state.settings.landing_dir)

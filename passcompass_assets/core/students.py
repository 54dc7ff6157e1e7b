"""Whether the platform has ever seen a student: an erasure of an id it never saw is a typo, not a done erasure."""

from __future__ import annotations

import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from passcompass_assets.core.db.tables import metadata, uploads
from passcompass_assets.core.ingest.landing import LandingStore
from passcompass_assets.core.ingest.pseudonyms import stored_user_id
from passcompass_assets.core.settings import Settings


def student_known(settings: Settings, engine: Engine, user_id: str, course_id: str | None = None) -> bool:
    """True when some table holds the student (in ``course_id``, when given), or an upload not applied yet does.
    The id is looked up as the platform stores it (its pseudonym, with a pseudonym key)."""
    user = stored_user_id(user_id, settings.pseudonym_key)
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if "user_id" not in table.c or (course_id is not None and "course_id" not in table.c):
                continue
            where = table.c.user_id == user
            if course_id is not None:
                where &= table.c.course_id == course_id
            if conn.execute(sa.select(sa.literal(1)).select_from(table).where(where).limit(1)).first():
                return True
        received = sa.select(uploads.c.landing_sha256).where(uploads.c.status == "received")
        pending: list[str] = [row.landing_sha256 for row in conn.execute(received)]
    store = LandingStore(settings.landing_dir)
    for sha256 in pending:
        landed = store.get_table(sha256)
        mask = pc.equal(landed["user_id"].cast("string"), user)
        if course_id is not None:
            mask = pc.and_(mask, pc.equal(landed["course_id"].cast("string"), course_id))
        if pc.any(mask).as_py():
            return True
    return False

"""Predict on demand: a CSV file or a JSON list of rows, validated exactly like an upload, scored by the champion.

Nothing is stored: no upload row, no landed file, no record, no log line with a value. Who asked is recorded in the
access log, as for a report download.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.datastructures import UploadFile as StarletteUploadFile

from passcompass_api.csv_files import CSV_ERRORS, read_csv_file
from passcompass_api.deps import EngineDep, SettingsDep
from passcompass_api.security import AUTH_RESPONSES, RATE_RESPONSES, forbidden, limited
from passcompass_assets.core.access.audit import PREDICTION, record_access
from passcompass_assets.core.access.roles import INSTRUCTOR, Principal
from passcompass_assets.core.courses import scales
from passcompass_assets.core.errors import Problem, Rejected
from passcompass_assets.core.ingest.validation import grades_within_scale, validate_csv
from passcompass_assets.core.ml.integrity import ModelRefused
from passcompass_assets.core.ml.loader import LoadedModel, load_model
from passcompass_assets.core.reports.predict import Prediction, predict
from passcompass_assets.core.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["predict"], responses=AUTH_RESPONSES)
MODEL_SECONDS = 60.0  # how long a loaded champion serves before the registry is asked again
_loaded: dict[str, tuple[float, LoadedModel]] = {}


class PredictionsOut(BaseModel):
    model_version: str
    confidence: str
    rows: list[Prediction]  # the core's record, served as it is


def _champion(settings: Settings) -> LoadedModel:
    cached = _loaded.get(settings.mlflow_tracking_uri)
    if cached and time.monotonic() - cached[0] < MODEL_SECONDS:
        return cached[1]
    try:
        model = load_model(settings)
    except ModelRefused as exc:
        raise Rejected(409, "model_refused", str(exc)) from None
    if model is None:
        raise Rejected(409, "no_model", "no model has been trained yet: there is nothing to predict with")
    _loaded[settings.mlflow_tracking_uri] = (time.monotonic(), model)
    return model


# A list of objects of values needs 2 levels; the third lets a nested value be named as the problem. Deeper
# nesting is refused before parsing (the parser recurses: 100,000 brackets were a RecursionError).
MAX_JSON_DEPTH = 3
MAX_NUMBER_CHARS = 100  # a 5,000-digit integer was a ValueError (Python's int conversion limit)
_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)


def _json_depth(body: bytes) -> int:
    """How deep the brackets and braces of a JSON text nest, those inside strings being data; at C speed (a
    character loop took seconds over a large body). UTF-8 never puts these ASCII bytes inside another character."""
    # Escapes first, left to right as a parser reads them: the quotes left delimit strings, and a bracket after an
    # even number of them is structure.
    bare = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    marks = np.frombuffer(bare, np.uint8)
    quotes = marks == ord('"')
    structure = marks[~quotes & (np.cumsum(quotes) % 2 == 0)]
    if not structure.size:
        return 0
    steps = np.where((structure == ord("[")) | (structure == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _number(parse: Callable[[str], object]) -> Callable[[str], object]:
    def bounded(text: str) -> object:
        if len(text) > MAX_NUMBER_CHARS:
            raise Rejected(422, "invalid_rows", f"a number has more than {MAX_NUMBER_CHARS} characters")
        return parse(text)

    return bounded


def _csv_of_rows(body: bytes) -> bytes:
    """A JSON list of objects as the CSV an upload would be (the same validator reads both)."""
    if _json_depth(body) > MAX_JSON_DEPTH:
        raise Rejected(400, "too_deep", f"the JSON nests more than {MAX_JSON_DEPTH} levels: send a list of objects")
    try:
        # UTF-8 only (json.loads would guess UTF-16 or -32 from bytes, which the depth scan does not read).
        rows = json.loads(body.decode("utf-8-sig"), parse_int=_number(int), parse_float=_number(float))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Rejected(400, "malformed_json", "the body is not JSON: send a list of objects, one per row") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise Rejected(422, "invalid_rows", "send a non-empty JSON list of objects, one per row")
    columns = list(dict.fromkeys(_text(str(key)) for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in columns])
    return buffer.getvalue().encode("utf-8")


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        raise Rejected(422, "invalid_rows", "each value must be a number, text, true/false or null")
    return _text(str(value))


def _text(value: str) -> str:
    """A key or value as CSV text: JSON's escapes can spell a NUL or a lone surrogate, which no file holds."""
    try:
        value.encode("utf-8")  # a lone surrogate cannot be encoded
    except UnicodeEncodeError:
        raise Rejected(422, "invalid_rows", "text must be valid Unicode without NUL characters") from None
    if "\x00" in value:
        raise Rejected(422, "invalid_rows", "text must be valid Unicode without NUL characters")
    return value


BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
            "application/json": {
                "schema": {"type": "array", "minItems": 1, "items": {"type": "object", "minProperties": 1}}
            },
        },
        "required": True,
    }
}


@router.post(
    "/predict",
    response_model=PredictionsOut,
    responses={
        **CSV_ERRORS,
        **RATE_RESPONSES,
        409: {"description": "no model has been trained yet, or the model's files were refused"},
    },
    openapi_extra=BODY,
)
async def post_predict(
    request: Request,
    principal: Annotated[Principal, Depends(limited("predictions", INSTRUCTOR))],
    settings: SettingsDep,
    engine: EngineDep,
) -> PredictionsOut:
    """Per row: the champion's fail probability, risk band, predicted final grade (on the course's scale), the
    signals it had and the strongest factors. The rows (``user_id``, ``course_id`` and the catalog's columns) are
    validated exactly like an upload; only courses granted to the caller; nothing is stored."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        file = form.get("file")
        if not isinstance(file, StarletteUploadFile):
            problem = Problem("the multipart field file is missing", column="file")
            raise Rejected(422, "invalid_request", "send the CSV as the multipart field `file`", [problem])
        content = await read_csv_file(file, settings.max_upload_bytes)
    else:
        content = await run_in_threadpool(_csv_of_rows, await request.body())
    validated = await run_in_threadpool(
        validate_csv,
        content,
        default_period_id=settings.default_period_id,
        max_courses=settings.max_upload_courses,
        max_periods=settings.max_upload_periods,
    )
    # How many, never which: the ids are the rows' cell values.
    if hidden := sum(1 for c in validated.course_ids if not principal.may_see(c)):
        raise forbidden(f"the rows name {hidden} course(s) not granted to you", "course_not_granted")
    tops = {pair: top for pair, (top, _) in scales(engine, validated.course_periods).items()}
    if problems := grades_within_scale(validated, tops, settings.default_grade_max):
        raise Rejected(422, "invalid_values", f"{len(problems)} grade(s) are outside their course's scale", problems)
    model = await run_in_threadpool(_champion, settings)
    predictions: list[Prediction] = await run_in_threadpool(predict, engine, settings, model, validated)
    for course_id in validated.course_ids:
        record_access(engine, principal, PREDICTION, f"rows:{validated.rows}", course_id)
    return PredictionsOut(
        model_version=model.version,
        confidence=model.info.confidence,
        rows=predictions,
    )

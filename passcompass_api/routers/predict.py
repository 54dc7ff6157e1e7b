"""Predict on demand: a CSV file or a JSON list of rows, validated exactly like an upload, scored by the champion.

Nothing is stored: no upload row, no landed file, no record, no log line with a value. Who asked is recorded in the
access log, as for a report download.
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Annotated, Any

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


def _csv_of_rows(body: bytes) -> bytes:
    """A JSON list of objects as the CSV an upload would be (the same validator reads both)."""
    try:
        rows = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Rejected(400, "malformed_json", "the body is not JSON: send a list of objects, one per row") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise Rejected(422, "invalid_rows", "send a non-empty JSON list of objects, one per row")
    columns = list(dict.fromkeys(str(key) for row in rows for key in row))
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
    return str(value)


BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
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
        content = _csv_of_rows(await request.body())
    validated = await run_in_threadpool(
        validate_csv,
        content,
        default_period_id=settings.default_period_id,
        max_courses=settings.max_upload_courses,
        max_periods=settings.max_upload_periods,
    )
    hidden = [c for c in validated.course_ids if not principal.may_see(c)]
    if hidden:
        raise forbidden(f"course(s) not granted to you: {', '.join(hidden)}")
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

"""Model cards: what each model version is for, what it learnt from, how it did and how it serves each group.

The HTML card is a page like the others, under their Content-Security-Policy."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from passcompass_api.deps import SettingsDep
from passcompass_api.schemas import ErrorOut
from passcompass_api.security import AUTH_RESPONSES, require
from passcompass_api.web.render import page
from passcompass_assets.core.ml.loader import model_card

router = APIRouter(prefix="/api/v1/models", tags=["models"], responses=AUTH_RESPONSES)


@router.get(
    "/{version}/card",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/html": {}}}, 404: {"model": ErrorOut}},
    dependencies=[Depends(require())],
)
async def get_model_card(
    settings: SettingsDep,
    version: Annotated[str, Path(pattern=r"^(champion|\d{1,9})$")],
    format: Literal["html", "json"] = "html",
) -> Response:
    """The model card of a version (``champion``: the current champion's): intended use, training data, inputs
    used and excluded, metrics overall, per stage and per week, calibration, and the analysis by group."""
    found = await run_in_threadpool(model_card, settings, version)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no model card for version {version!r}")
    number, card, html = found
    if format == "json":
        return JSONResponse({"version": number, **card})
    html = html.replace("<h1>Model card</h1>", f"<h1>Model card: version {number}</h1>", 1)
    # The card was rendered at training time: its one inline style gets the page's nonce now.
    return page(lambda nonce: html.replace("<style>", f'<style nonce="{nonce}">', 1))

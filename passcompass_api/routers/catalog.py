"""The effective feature catalog: what an upload may carry, and a template to fill in."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from passcompass_api.security import AUTH_RESPONSES, require
from passcompass_assets.core.catalog import load_catalog, upload_template

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"], responses=AUTH_RESPONSES)


@router.get(
    "",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
    dependencies=[Depends(require())],
)
def get_catalog(
    format: Literal["json", "csv"] = "json", columns: Literal["university", "all"] = "university"
) -> Response:
    """Every column PassCompass accepts (the built-in catalog and the deployment's), by group: name, type and
    range, aliases, when it is known, and its use (model input, audit only). ``format=csv``: an upload template
    (the header) to fill in and upload as it is; ``columns=all`` adds the other known columns."""
    catalog = load_catalog()
    if format == "csv":
        return Response(
            upload_template(catalog, every_column=columns == "all"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="passcompass_upload_template.csv"'},
        )
    return JSONResponse(catalog.as_dict())

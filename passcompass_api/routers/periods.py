"""Academic periods: dates and report cadence."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Response, status
from fastapi.concurrency import run_in_threadpool

from passcompass_api.deps import EngineDep, IdPath
from passcompass_api.schemas import ErrorOut, PeriodIn, PeriodOut
from passcompass_api.security import AUTH_RESPONSES, require
from passcompass_assets.core.access.roles import ADMIN
from passcompass_assets.core.cadence import report_dates
from passcompass_assets.core.periods import Period, delete_period, list_periods, upsert_period

router = APIRouter(prefix="/api/v1/periods", tags=["periods"], responses=AUTH_RESPONSES)


def _out(period: Period, today: date) -> PeriodOut:
    return PeriodOut(
        period_id=period.period_id,
        start_date=period.start_date,
        end_date=period.end_date,
        cadence_weeks=period.cadence_weeks,
        current=period.contains(today),
        report_dates=report_dates(period),
    )


@router.put(
    "/{period_id}",
    response_model=PeriodOut,
    responses={201: {"model": PeriodOut}, 422: {"model": ErrorOut}},
    dependencies=[Depends(require(ADMIN))],
)
async def put_period(
    period_id: IdPath,
    body: PeriodIn,
    response: Response,
    engine: EngineDep,
) -> PeriodOut:
    """Create or update a period. Reports come every ``cadence_weeks`` (2, 3 or 4) weeks and on its last day."""
    existed = any(p.period_id == period_id for p in await run_in_threadpool(list_periods, engine))
    period = Period(period_id, body.start_date, body.end_date, body.cadence_weeks)
    await run_in_threadpool(upsert_period, engine, period)
    response.status_code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
    return _out(period, date.today())


@router.get("", response_model=list[PeriodOut], dependencies=[Depends(require())])
def get_periods(engine: EngineDep) -> list[PeriodOut]:
    today = date.today()
    return [_out(p, today) for p in list_periods(engine)]


@router.delete(
    "/{period_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut, "description": "the period has data"}},
    dependencies=[Depends(require(ADMIN))],
)
async def remove_period(period_id: IdPath, engine: EngineDep) -> Response:
    """Delete a period that nothing names yet (declared by mistake); a period with data is refused (409)."""
    await run_in_threadpool(delete_period, engine, period_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

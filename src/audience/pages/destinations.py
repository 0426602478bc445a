"""The destinations page: each destination's delivery state, in the operator's web pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audience.http.admin_guard import AdminGuard
from audience.pages.reading import DestinationReport, DestinationReports
from audience.pages.rendering import render


def page_row(status: DestinationReport) -> dict[str, Any]:
    """What one table row shows: times in UTC for people to read, the target without secrets,
    the filters and the transformation in words."""
    options = status.settings["options"]
    return {
        **status.to_json(),
        "target": options.get("url") or options.get("path") or "",
        "rules": _rules(status.settings),
        "last_delivered_at": _when(status.last_delivered_at),
        "last_error_at": _when(status.last_error_at),
    }


def _rules(settings: dict[str, Any]) -> str:
    """``only types track, identify; transform shop:for_crm`` (empty when every event goes as
    it is)."""
    rules = [
        f"{rule.replace('_', ' ')} {', '.join(names)}"
        for rule, names in (settings.get("filters") or {}).items()
    ]
    if settings.get("transform"):
        rules.append(f"transform {settings['transform']}")
    return "; ".join(rules)


def _when(moment: float | None) -> str:
    if moment is None:
        return ""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def destinations_page(reports: DestinationReports, guard: AdminGuard) -> Route:
    """``GET /destinations``: the page (``templates/destinations.html``)."""

    async def show(request: Request) -> Response:
        statuses = await run_in_threadpool(reports)
        return render(
            "destinations.html", page="destinations", rows=[page_row(s) for s in statuses]
        )

    return Route("/destinations", guard.protect_page(show), methods=["GET"])

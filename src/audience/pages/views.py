"""The operator's web pages: sources, the live event debugger, profile search, journeys.

Pages are rendered on the server with Jinja2 (``audience.pages.rendering``: autoescaping on,
every identifier, trait and event name is user content) and need the admin login. The
application's security headers (:mod:`audience.http.security_headers`: a Content-Security-Policy
allowing only this server's own scripts and styles, so even an unescaped value could not run)
come with every page. The pages read the stores through the protocols of
:mod:`audience.pages.reading`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from audience.clock import Clock, IdFactory, SystemClock, UuidFactory
from audience.errors import ConflictError, NotFoundError, QueryError, ValidationError
from audience.eventlog import StoredEvent
from audience.http.admin_guard import AdminGuard
from audience.http.body import read_small_body
from audience.http.proxies import TrustedProxies
from audience.http.query_params import MAX_TEXT_CHARS, QueryReader
from audience.http.replies import JSONReply, invalid_query_reply
from audience.identity.identifiers import IDENTIFIER_TYPES, Identifier, clean_email, clean_id
from audience.identity.journey import build_journey, next_anonymous_id, title_of
from audience.identity.profiles import LinkedEvent, Profile
from audience.identity.timeline import linked_events, linked_position, profile_event_cursor
from audience.pages.reading import EventReader, ProfileActions, ProfileReader, Snippet
from audience.pages.rendering import render
from audience.paging import MAX_SEQ, Page, backward_page, forward_page
from audience.tracking import format_timestamp

STATIC: Final = Path(__file__).parent / "static"
STATIC_FILES: Final = {"style.css": "text/css", "live.js": "text/javascript"}

LIVE_BACKLOG: Final = 50
"""Events the live debugger shows when it opens."""

LIVE_PAGE: Final = 200
"""Most events one poll of the live debugger returns."""

JOURNEY_EVENTS: Final = 500
"""Events drawn on one page of a journey; its links page through the rest."""

WARNINGS_SHOWN: Final = 20
"""Identity warnings listed under the profile search."""

NEXT_ID_SCAN: Final = 500
"""Later events searched for the anonymous id a browser used after logout."""

MAX_FORM: Final = 8 * 1024
"""Bytes a merge or split form may hold."""

MAX_REASON: Final = 1000
"""Characters of the reason an operator gives for a merge or split."""


async def action_form(request: Request) -> dict[str, str]:
    """A urlencoded merge or split form, read up to ``MAX_FORM`` bytes."""
    body = await read_small_body(request.stream(), limit=MAX_FORM, field="form")
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
    except ValueError as exc:
        raise ValidationError("form", "has too many fields") from exc
    return {name: values[0] for name, values in fields.items() if values}


def form_reason(form: dict[str, str]) -> str:
    """The form's ``reason``: required, at most ``MAX_REASON`` characters."""
    reason = form.get("reason", "").strip()
    if not reason or "\x00" in reason:
        raise ValidationError("reason", "say why: it is kept in the merge log")
    if len(reason) > MAX_REASON:
        raise ValidationError("reason", f"must be at most {MAX_REASON:,} characters")
    return reason


def form_identifier(form: dict[str, str]) -> Identifier:
    """The form's ``identifier``, written ``type:value`` (the split form's choice)."""
    type_, _, raw = form.get("identifier", "").partition(":")
    if type_ not in IDENTIFIER_TYPES:
        raise ValidationError("identifier", "choose one of the profile's identifiers")
    value = clean_email(raw) if type_ == "email" else clean_id(raw)
    if value is None:
        raise ValidationError("identifier", f"is not a usable {type_}")
    return Identifier(type_, value)


def refused_page(error: ValidationError, back: str) -> HTMLResponse:
    """400, 404 or 409: the merge or split was refused, the field named."""
    status = (
        404
        if isinstance(error, NotFoundError)
        else 409
        if isinstance(error, ConflictError)
        else 400
    )
    return render("refused.html", status=status, page="profiles", problem=error, back=back)


def invalid_query_page(error: QueryError, back: str) -> HTMLResponse:
    """The 400 page naming every malformed query parameter."""
    return render("invalid_query.html", status=400, page="", problems=error.problems, back=back)


def live_row(event: StoredEvent) -> dict[str, Any]:
    """What the live debugger shows of one event (plain JSON: the page inserts it as text)."""
    message = event.message
    return {
        "seq": event.seq,
        "source": event.source,
        "type": message.get("type"),
        "title": title_of(message),
        "userId": message.get("userId"),
        "anonymousId": message.get("anonymousId"),
        "timestamp": message.get("timestamp"),
        "receivedAt": message.get("receivedAt"),
        "message": message,
    }


class WebPages:
    """The routes of the pages; each needs the admin login (``/login`` is the collector's)."""

    def __init__(
        self,
        *,
        guard: AdminGuard,
        events: EventReader,
        profiles: ProfileReader,
        snippet: Snippet,
        proxies: TrustedProxies,
        public_url: str | None = None,
        actions: ProfileActions | None = None,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
    ) -> None:
        self._guard = guard
        self._actions = actions
        self._clock = clock or SystemClock()
        self._ids = ids or UuidFactory()
        self._events = events
        self._profiles = profiles
        self._snippet = snippet
        self._proxies = proxies
        self._origin = public_url

    def routes(self) -> list[Route]:
        """``/``, ``/sources``, ``/live`` + ``/live/events``, ``/profiles``, ``/profiles/{id}``,
        and with ``actions`` the profile page's forms: ``POST /profiles/{id}/merge`` and
        ``POST /profiles/{id}/split`` (the admin guard refuses them from another site's page)."""
        page = self._guard.protect_page
        forms = (
            [
                Route("/profiles/{id}/merge", page(self._merge), methods=["POST"]),
                Route("/profiles/{id}/split", page(self._split), methods=["POST"]),
            ]
            if self._actions is not None
            else []
        )
        return [
            *forms,
            Route("/", page(self._home), methods=["GET"]),
            Route("/sources", page(self._sources), methods=["GET"]),
            Route("/live", page(self._live), methods=["GET"]),
            Route("/live/events", self._guard.protect(self._live_events), methods=["GET"]),
            Route("/profiles", page(self._search), methods=["GET"]),
            Route("/profiles/{id}", page(self._profile), methods=["GET"]),
            Route("/ui/{name}", self._static, methods=["GET"]),
        ]

    async def _home(self, request: Request) -> Response:
        return RedirectResponse("/profiles", status_code=303)

    async def _static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return Response("not found", status_code=404, media_type="text/plain")
        # Revalidated by ETag on each use: a new release's script is never served stale.
        return FileResponse(
            STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
        )

    async def _sources(self, request: Request) -> Response:
        sources = await run_in_threadpool(self._events.list_sources)
        visitor = self._proxies.view_of(request)
        origin = self._origin or visitor.origin or f"{request.url.scheme}://{request.url.netloc}"
        rows = [
            {"source": source, "snippet": self._snippet(source.write_key, origin)}
            for source in sources
        ]
        return render("sources.html", page="sources", rows=rows, origin=origin)

    async def _live(self, request: Request) -> Response:
        return render("live.html", page="live", backlog=LIVE_BACKLOG)

    async def _live_events(self, request: Request) -> Response:
        store = self._events
        query = QueryReader(request.query_params.multi_items())
        after = query.integer("after", default=-1, minimum=0, maximum=MAX_SEQ)
        try:
            query.finish()
        except QueryError as exc:
            return invalid_query_reply(exc)
        last_seq = await run_in_threadpool(store.last_seq)
        if after < 0:
            after = max(0, last_seq - LIVE_BACKLOG)
        events = await run_in_threadpool(store.read_after, after, LIVE_PAGE)
        return JSONReply(
            {
                "events": [live_row(event) for event in events],
                "lastSeq": events[-1].seq if events else after,
            }
        )

    async def _search(self, request: Request) -> Response:
        query = QueryReader(request.query_params.multi_items())
        text = query.text("query") or ""
        try:
            query.finish()
        except QueryError as exc:
            return invalid_query_page(exc, "/profiles")
        found = await run_in_threadpool(self._profiles.search, text, 50)
        cursor = await run_in_threadpool(self._profiles.cursor)
        last_seq = await run_in_threadpool(self._events.last_seq)
        warnings = await run_in_threadpool(self._profiles.warnings, WARNINGS_SHOWN)
        return render(
            "profiles.html",
            page="profiles",
            query=text,
            profiles=found,
            lag=max(0, last_seq - cursor),
            warnings=warnings,
        )

    async def _profile(self, request: Request) -> Response:
        profile_id = request.path_params["id"]
        query = QueryReader(request.query_params.multi_items())
        query.exclusive("after", "before")
        after = query.cursor("after", profile_event_cursor)
        before = query.cursor("before", profile_event_cursor)
        try:
            query.finish()
        except QueryError as exc:
            return invalid_query_page(exc, request.url.path)
        profile = None
        if "\x00" not in profile_id and len(profile_id) <= MAX_TEXT_CHARS:
            profile = await run_in_threadpool(self._profiles.get, profile_id)
        if profile is None:
            return render("missing.html", status=404, page="profiles")
        context = await run_in_threadpool(self._journey_context, profile, after, before)
        return render("profile.html", page="profiles", profile=profile, **context)

    async def _merge(self, request: Request) -> Response:
        profile_id = request.path_params["id"]
        back = f"/profiles/{quote(profile_id)}"
        actions = self._actions
        if actions is None:
            return render("missing.html", status=404, page="profiles")
        try:
            form = await action_form(request)
            other = form.get("other", "").strip()
            if not other or len(other) > MAX_TEXT_CHARS or "\x00" in other:
                raise ValidationError("other", "give the id of the profile to merge with")
            reason = form_reason(form)
            action = await run_in_threadpool(
                actions.merge,
                (profile_id, other),
                action_id=f"op-{self._ids.new()}",
                at=format_timestamp(self._clock.now()),
                actor="admin (web)",
                reason=reason,
            )
        except ValidationError as exc:
            return refused_page(exc, back)
        merged = await run_in_threadpool(self._profiles.lookup, action.a)
        target = f"/profiles/{quote(merged.id)}" if merged is not None else back
        return RedirectResponse(target, status_code=303)

    async def _split(self, request: Request) -> Response:
        profile_id = request.path_params["id"]
        back = f"/profiles/{quote(profile_id)}"
        actions = self._actions
        if actions is None:
            return render("missing.html", status=404, page="profiles")
        try:
            form = await action_form(request)
            identifier = form_identifier(form)
            reason = form_reason(form)
            await run_in_threadpool(
                actions.split,
                profile_id,
                identifier,
                action_id=f"op-{self._ids.new()}",
                at=format_timestamp(self._clock.now()),
                actor="admin (web)",
                reason=reason,
            )
        except ValidationError as exc:
            return refused_page(exc, back)
        # The profiles are being rebuilt: the search finds the identifier once it is back.
        return RedirectResponse(f"/profiles?query={quote(identifier.value)}", status_code=303)

    def _journey_page(
        self, profile: Profile, after: tuple[str, int] | None, before: tuple[str, int] | None
    ) -> tuple[Page[LinkedEvent], str | None]:
        """A page of the journey and the cursor of the one before it, ``None`` on the first."""
        if before is not None:
            rows = self._profiles.events_before(profile.id, before, JOURNEY_EVENTS + 1)
            page = backward_page(rows, JOURNEY_EVENTS, linked_position)
            return page, page.previous if len(rows) > JOURNEY_EVENTS else None
        rows = self._profiles.events(profile.id, JOURNEY_EVENTS + 1, after)
        page = forward_page(rows, JOURNEY_EVENTS, linked_position)
        return page, page.previous if after is not None else None

    def _journey_context(
        self, profile: Profile, after: tuple[str, int] | None, before: tuple[str, int] | None
    ) -> dict[str, Any]:
        page, earlier = self._journey_page(profile, after, before)
        pairs = linked_events(self._events, page.items)
        phases = build_journey(pairs)
        next_id = None
        next_profile = None
        if page.next is None and pairs and any(phase.kind != "anonymous" for phase in phases):
            last_seq = max(event.seq for event, _ in pairs)
            newest = max(pairs, key=lambda pair: pair[0].seq)[1]
            later = [e.message for e in self._events.read_after(last_seq, NEXT_ID_SCAN)]
            known = {i.value for i in profile.identifiers}
            next_id = next_anonymous_id(newest, known, later)
            if next_id is not None:
                next_profile = self._profiles.lookup(Identifier("anonymous_id", next_id))
        return {
            "phases": phases,
            "merges": self._profiles.merges(profile.id),
            "next_id": next_id,
            "next_profile": next_profile,
            "shown_events": len(pairs),
            "later_events": page.next,
            "earlier_events": earlier,
        }

"""The operator pages in Debian's Chromium, against a real ``audience serve``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from audience.http.admin_guard import SESSION_COOKIE
from interop.fixtures import INTEROP_ADMIN_TOKEN, INTEROP_SOURCES
from interop.harness import StaticSite
from pages.support import login, screenshot
from support import AdminApi, AudienceServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

SOURCE = "sdk"
XSS_NAME = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"


@pytest.fixture(scope="module")
def profiles(audience_server: AudienceServer) -> Iterator[AdminApi]:
    client = audience_server.admin()
    try:
        yield client
    finally:
        client.close()


def send(server: AudienceServer, *messages: dict[str, object]) -> None:
    response = httpx.post(
        f"{server.url}/v1/batch",
        json={"batch": list(messages)},
        auth=(INTEROP_SOURCES[SOURCE], ""),
        timeout=10,
    )
    assert response.status_code == 200, response.text


def journey(user_id: str, anonymous_id: str, next_anonymous_id: str) -> list[dict[str, object]]:
    context = {"userAgent": "PageTest/1.0", "ip": "10.1.2.3"}
    return [
        {
            "type": "page",
            "anonymousId": anonymous_id,
            "name": "Home",
            "timestamp": "2026-11-29T09:00:00Z",
            "context": context,
        },
        {
            "type": "track",
            "anonymousId": anonymous_id,
            "event": "Added to Cart",
            "timestamp": "2026-11-29T09:01:00Z",
            "context": context,
        },
        {
            "type": "identify",
            "anonymousId": anonymous_id,
            "userId": user_id,
            "traits": {"name": "Page Tester", "plan": "pro"},
            "timestamp": "2026-11-29T09:02:00Z",
            "context": context,
        },
        {
            "type": "track",
            "anonymousId": anonymous_id,
            "userId": user_id,
            "event": "Order Completed",
            "timestamp": "2026-11-29T09:03:00Z",
            "context": context,
        },
        {
            "type": "page",
            "anonymousId": next_anonymous_id,
            "name": "Home",
            "timestamp": "2026-11-29T09:04:00Z",
            "context": context,
        },
    ]


def session_cookie(context: BrowserContext) -> str:
    [cookie] = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    return cookie["value"]


def test_pages_need_the_login_and_the_token_logs_in(
    audience_server: AudienceServer, browser_context: BrowserContext
) -> None:
    page = browser_context.new_page()
    page.goto(f"{audience_server.url}/profiles")
    assert "/login" in page.url
    screenshot(page, "login")
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").is_visible()
    login(page, audience_server.url, INTEROP_ADMIN_TOKEN)
    assert page.locator("h1").inner_text() == "Profiles"
    session = session_cookie(browser_context)
    page.click("form.logout button")
    page.wait_for_url("**/login*")
    page.goto(f"{audience_server.url}/profiles")
    assert "/login" in page.url
    replayed = httpx.get(
        f"{audience_server.url}/profiles", headers={"Cookie": f"{SESSION_COOKIE}={session}"}
    )
    assert replayed.status_code == 303, "the old cookie no longer works after logout"
    assert replayed.headers["location"].startswith("/login")


def test_each_login_in_the_browser_starts_a_new_session(
    audience_server: AudienceServer, chromium: Browser
) -> None:
    sessions = []
    for _ in range(2):
        context = chromium.new_context()
        try:
            login(context.new_page(), audience_server.url, INTEROP_ADMIN_TOKEN)
            sessions.append(session_cookie(context))
        finally:
            context.close()
    assert sessions[0] != sessions[1]


CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_every_page_works_under_its_content_security_policy(
    audience_server: AudienceServer, browser_context: BrowserContext, profiles: AdminApi
) -> None:
    """The pages' own script and styles run; nothing they use is blocked by the policy."""
    user_id = f"csp-{uuid.uuid4().hex[:8]}"
    send(audience_server, *journey(user_id, f"{user_id}-anon", f"{user_id}-next"))
    person = profiles.wait_for_profile(4, userId=user_id)
    browser_context.add_init_script(CSP_WATCH)
    page = browser_context.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(f"{audience_server.url}/login")
    assert page.evaluate("() => window.__cspViolations") == []
    login(page, audience_server.url, INTEROP_ADMIN_TOKEN)
    for path in ("/profiles", f"/profiles/{person['id']}", "/sources", "/destinations", "/live"):
        response = page.goto(f"{audience_server.url}{path}")
        assert response is not None
        assert response.status == 200
        assert "default-src 'self'" in response.headers["content-security-policy"]
        header = page.locator("header.top").evaluate("e => getComputedStyle(e).backgroundColor")
        assert header == "rgb(17, 24, 39)", f"the stylesheet did not apply on {path}"
        assert page.evaluate("() => window.__cspViolations") == [], path
    page.wait_for_function(
        "() => document.getElementById('live-status').textContent.startsWith('Live')"
    )
    assert page.evaluate("() => window.__cspViolations") == []
    assert errors == []


def test_a_form_on_another_site_cannot_log_the_admin_out(
    audience_server: AudienceServer, browser_context: BrowserContext, static_site: StaticSite
) -> None:
    page = browser_context.new_page()
    login(page, audience_server.url, INTEROP_ADMIN_TOKEN)
    page.goto(static_site.url("not-a-page.html"))
    assert page.url.startswith("http://localhost:")
    with page.expect_response(f"{audience_server.url}/logout") as answer:
        page.evaluate(
            """(target) => {
              const form = document.createElement("form");
              form.method = "post";
              form.action = target;
              document.body.appendChild(form);
              form.submit();
            }""",
            f"{audience_server.url}/logout",
        )
    assert answer.value.status == 403
    assert "cross_site_request" in answer.value.text()
    page.goto(f"{audience_server.url}/profiles")
    assert page.locator("h1").inner_text() == "Profiles", "the admin is still logged in"


def test_find_a_person_and_open_their_journey(
    audience_server: AudienceServer, browser_context: BrowserContext, profiles: AdminApi
) -> None:
    tag = uuid.uuid4().hex[:8]
    user_id, first_anon, next_anon = f"page-user-{tag}", f"anon-{tag}-1", f"anon-{tag}-2"
    send(audience_server, *journey(user_id, first_anon, next_anon))
    profiles.wait_for_profile(4, userId=user_id)
    profiles.wait_for_profile(1, anonymousId=next_anon)
    page = browser_context.new_page()
    login(page, audience_server.url, INTEROP_ADMIN_TOKEN)
    page.fill("#query", user_id)
    page.click("form.search button")
    page.wait_for_url("**/profiles?query=*")
    links = page.locator("a.profile-link")
    assert links.count() == 1
    screenshot(page, "profile-search")
    links.first.click()
    page.wait_for_selector(".timeline")
    kinds = page.locator(".timeline > li").evaluate_all("items => items.map(i => i.dataset.kind)")
    assert kinds == ["anonymous", "identify", "identified", "after_logout"]
    assert first_anon in page.locator(".phase.anonymous").inner_text()
    assert next_anon in page.locator(".phase.after_logout").inner_text()
    details = page.locator(".phase.identified details").first
    assert not details.locator("pre").is_visible()
    details.locator("summary").click()
    assert '"event": "Order Completed"' in details.locator("pre").inner_text()
    screenshot(page, "journey")
    page.locator(".phase.after_logout a").click()
    page.wait_for_selector(".timeline")
    assert page.locator(".timeline > li").count() == 1
    assert next_anon in page.locator("h1").inner_text()


def test_the_live_debugger_shows_new_events_without_a_reload(
    audience_server: AudienceServer, browser_context: BrowserContext
) -> None:
    page = browser_context.new_page()
    login(page, audience_server.url, INTEROP_ADMIN_TOKEN, target="/live")
    page.wait_for_function(
        "() => document.getElementById('live-status').textContent.startsWith('Live')"
    )
    page.evaluate("() => { window.__sameDocument = true; }")
    event_name = f"Live Event {uuid.uuid4().hex[:8]}"
    send(audience_server, {"type": "track", "anonymousId": "live-visitor", "event": event_name})
    row = page.locator("tr.live-event", has_text=event_name)
    row.wait_for(timeout=15_000)
    assert page.evaluate("() => window.__sameDocument") is True
    row.click()
    assert event_name in page.locator("#live-details").inner_text()
    screenshot(page, "live-events")


def test_sources_page_shows_write_keys_and_a_snippet(
    audience_server: AudienceServer, browser_context: BrowserContext
) -> None:
    page = browser_context.new_page()
    login(page, audience_server.url, INTEROP_ADMIN_TOKEN, target="/sources")
    keys = page.locator("code.write-key").all_inner_texts()
    assert INTEROP_SOURCES["browser"] in keys
    snippet = page.locator("section[data-source=browser] textarea").input_value()
    assert INTEROP_SOURCES["browser"] in snippet
    assert audience_server.url in snippet
    screenshot(page, "sources")


def test_script_payloads_in_traits_and_event_names_do_not_run(
    audience_server: AudienceServer, browser_context: BrowserContext, profiles: AdminApi
) -> None:
    user_id = f"xss-{uuid.uuid4().hex[:8]}"
    send(
        audience_server,
        {
            "type": "identify",
            "userId": user_id,
            "anonymousId": f"{user_id}-anon",
            "traits": {"name": XSS_NAME, "bio": XSS_SCRIPT, XSS_SCRIPT: "key"},
        },
        {"type": "track", "userId": user_id, "event": XSS_NAME},
        {"type": "track", "userId": user_id, "event": XSS_SCRIPT},
    )
    profile = profiles.wait_for_profile(3, userId=user_id)
    page = browser_context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login(page, audience_server.url, INTEROP_ADMIN_TOKEN, target=f"/profiles?query={user_id}")
    assert XSS_NAME in page.locator("a.profile-link").inner_text()
    page.goto(f"{audience_server.url}/profiles/{profile['id']}")
    page.wait_for_selector(".timeline")
    for summary in page.locator("summary").all():
        summary.click()
    assert XSS_NAME in page.locator("h1").inner_text()
    assert XSS_SCRIPT in page.locator(".timeline").inner_text()
    screenshot(page, "xss-profile")
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("img[src=x]").count() == 0
    page.goto(f"{audience_server.url}/live")
    page.locator("tr.live-event", has_text=XSS_SCRIPT).first.wait_for(timeout=15_000)
    screenshot(page, "xss-live")
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []


def test_a_refused_merge_is_listed_under_the_profile_search(
    audience_server: AudienceServer, browser_context: BrowserContext, profiles: AdminApi
) -> None:
    tag = uuid.uuid4().hex[:8]
    shared, first, second = f"shared-{tag}", f"first-{tag}", f"<b>second-{tag}</b>"
    send(
        audience_server,
        {
            "type": "identify",
            "anonymousId": shared,
            "userId": first,
            "timestamp": "2026-11-29T08:00:00Z",
        },
        {
            "type": "identify",
            "anonymousId": shared,
            "userId": second,
            "timestamp": "2026-11-29T08:01:00Z",
        },
    )
    profiles.wait_for_profile(1, userId=second)
    page = browser_context.new_page()
    login(page, audience_server.url, INTEROP_ADMIN_TOKEN)
    refused = page.locator("li.warning.merge_refused", has_text=tag)
    assert refused.count() == 1
    assert second in refused.inner_text()
    assert page.locator("li.warning b").count() == 0
    screenshot(page, "identity-warnings")

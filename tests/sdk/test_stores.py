"""The stores: cookie jar with expiry, local JSON file, memory, and their layering."""

from __future__ import annotations

import http.cookiejar
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from audience.errors import StorageError
from audience.sdk import CookieJarStore, LayeredStore, LocalFileStore, MemoryStore
from audience.testing import FakeClock

from .conftest import MakeAnalytics


def _stores(folder: Path, clock: FakeClock) -> tuple[CookieJarStore, LocalFileStore, LayeredStore]:
    cookies = CookieJarStore(folder / "cookies.txt", clock=clock)
    local = LocalFileStore(folder / "local.json", clock=clock)
    return cookies, local, LayeredStore([cookies, local, MemoryStore()])


def test_an_expired_cookie_is_restored_from_the_local_store_and_rewritten(tmp_path: Path) -> None:
    clock = FakeClock()
    cookies, local, layered = _stores(tmp_path, clock)
    layered.set("ajs_anonymous_id", "anon-1")
    clock.advance(timedelta(days=366))
    assert cookies.get("ajs_anonymous_id") is None
    assert local.get("ajs_anonymous_id") == "anon-1"

    fresh = LayeredStore([cookies, local, MemoryStore()])
    assert fresh.get("ajs_anonymous_id") == "anon-1"
    assert cookies.get("ajs_anonymous_id") == "anon-1"
    expires = cookies.expires_at("ajs_anonymous_id")
    assert expires is not None
    assert expires - clock.now().timestamp() >= timedelta(days=364).total_seconds()


def test_when_both_stores_are_cleared_a_new_anonymous_id_is_minted(
    make_analytics: MakeAnalytics, tmp_path: Path
) -> None:
    folder = tmp_path / "id"
    first = make_analytics(storage="disk", storage_dir=folder).user().anonymous_id()
    (folder / "cookies.txt").unlink()
    (folder / "local.json").unlink()
    second = make_analytics(storage="disk", storage_dir=folder).user().anonymous_id()
    assert second not in (None, first)


def test_when_the_stores_disagree_the_cookie_wins_and_is_copied_to_the_others(
    tmp_path: Path,
) -> None:
    """The cookie is the value a browser on another subdomain shares (analytics-next #706)."""
    clock = FakeClock()
    cookies, local, layered = _stores(tmp_path, clock)
    cookies.set("ajs_anonymous_id", "cookie-anon")
    local.set("ajs_anonymous_id", "local-anon")
    assert layered.get("ajs_anonymous_id") == "cookie-anon"
    assert local.get("ajs_anonymous_id") == "cookie-anon"


def test_an_empty_value_does_not_count_and_the_next_store_answers(tmp_path: Path) -> None:
    clock = FakeClock()
    cookies, local, layered = _stores(tmp_path, clock)
    cookies.set("ajs_user_id", "")
    local.set("ajs_user_id", "user_1")
    assert layered.get("ajs_user_id") == "user_1"


def test_the_local_store_keeps_json_values_under_the_browsers_keys(
    make_analytics: MakeAnalytics, tmp_path: Path
) -> None:
    folder = tmp_path / "id"
    analytics = make_analytics(storage="disk", storage_dir=folder)
    analytics.identify("user_123", {"name": "Jane Kim"})
    analytics.group("group_1", {"name": "Acme"})
    local = json.loads((folder / "local.json").read_text())
    assert local == {
        "ajs_anonymous_id": analytics.user().anonymous_id(),
        "ajs_user_id": "user_123",
        "ajs_user_traits": {"name": "Jane Kim"},
        "ajs_group_id": "group_1",
        "ajs_group_properties": {"name": "Acme"},
    }


def test_the_cookie_jar_is_a_netscape_file_with_ids_only_and_a_one_year_expiry(
    make_analytics: MakeAnalytics, tmp_path: Path
) -> None:
    folder = tmp_path / "id"
    analytics = make_analytics(storage="disk", storage_dir=folder)
    analytics.identify("user_123", {"name": "Jane Kim"})
    jar = http.cookiejar.MozillaCookieJar(str(folder / "cookies.txt"))
    jar.load()
    cookies = {cookie.name: cookie for cookie in jar}
    assert set(cookies) == {"ajs_anonymous_id", "ajs_user_id"}
    assert cookies["ajs_user_id"].value == "user_123"
    assert cookies["ajs_user_id"].path == "/"
    assert cookies["ajs_user_id"].expires is not None


def test_a_classic_format_cookie_in_the_jar_is_read(tmp_path: Path) -> None:
    jar = tmp_path / "cookies.txt"
    jar.write_text(
        "# Netscape HTTP Cookie File\n"
        "localhost\tFALSE\t/\tFALSE\t4102444800\tajs_anonymous_id\t"
        "%2239ee7ea5-b6d8-4174-b612-04e1ef3fa952%22\n"
    )
    store = CookieJarStore(jar, clock=FakeClock())
    assert store.get("ajs_anonymous_id") == "39ee7ea5-b6d8-4174-b612-04e1ef3fa952"


_WRITER = """
import sys
from audience.clock import SystemClock
from audience.sdk import LocalFileStore
store = LocalFileStore(sys.argv[1], clock=SystemClock())
for i in range(int(sys.argv[3])):
    store.set(f"{sys.argv[2]}-{i}", i)
"""


def test_processes_writing_one_local_store_never_lose_each_others_keys(tmp_path: Path) -> None:
    path = tmp_path / "local.json"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name, "30"])
        for name in ("left", "right")
    ]
    for writer in writers:
        assert writer.wait(timeout=60) == 0
    document = json.loads(path.read_text())
    assert len(document) == 60


_IDENTIFY = """
import sys
from audience import Analytics
from audience.sdk.testing import RecordingTransport
with Analytics("WRITE_KEY", storage_dir=sys.argv[1], transport=RecordingTransport()) as a:
    a.identify("user_from_the_other_process", {"plan": "pro"})
"""


def test_a_process_sees_an_identify_made_by_another_process_sharing_the_storage_dir(
    make_analytics: MakeAnalytics, tmp_path: Path
) -> None:
    folder = tmp_path / "id"
    analytics = make_analytics(storage="disk", storage_dir=folder)
    anonymous_id = analytics.user().anonymous_id()
    assert analytics.user().id() is None
    subprocess.run([sys.executable, "-c", _IDENTIFY, str(folder)], check=True, timeout=60)
    assert analytics.user().id() == "user_from_the_other_process"
    assert analytics.user().traits() == {"plan": "pro"}
    assert analytics.user().anonymous_id() == anonymous_id


class _BrokenStore:
    """A store on a disk that has gone away: every operation fails."""

    def get(self, key: str) -> object:
        raise StorageError(f"cannot read {key}")

    def set(self, key: str, value: object) -> None:
        raise StorageError(f"cannot write {key}")

    def remove(self, key: str) -> None:
        raise StorageError(f"cannot remove {key}")


def test_a_failing_store_is_skipped_and_the_identity_lives_on_in_the_others() -> None:
    layered = LayeredStore([_BrokenStore(), MemoryStore()])
    layered.set("ajs_user_id", "user_1")
    assert layered.get("ajs_user_id") == "user_1"
    layered.remove("ajs_user_id")
    assert layered.get("ajs_user_id") is None

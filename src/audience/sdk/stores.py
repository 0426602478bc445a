"""Where identity lives between calls and runs: the KeyValueStore protocol and its stores.

They mirror the browser source's trio: a cookie store (a cookie-jar file with expiry, or an HTTP
request's cookies), a local store (a JSON file, like localStorage) and memory. ``LayeredStore``
reads them in priority order, takes the first non-empty value and writes it back to the others,
so an expired cookie is restored from the local store and a cleared local store from the cookie.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol, cast

from audience.clock import Clock
from audience.errors import StorageError
from audience.jsontypes import JSON
from audience.sdk.cookies import (
    ONE_YEAR,
    SameSite,
    decode_cookie_value,
    encode_cookie_value,
    render_set_cookie,
)
from audience.sdk.shared_files import SharedFile, replace_atomically

log = logging.getLogger(__name__)


class KeyValueStore(Protocol):
    """A place that keeps JSON values by key (cookie jar, file, memory, a request's cookies)."""

    def get(self, key: str) -> JSON | None:
        """The value stored under ``key``, or ``None``."""
        ...

    def set(self, key: str, value: JSON | None) -> None:
        """Store ``value`` under ``key``; ``None`` removes it."""
        ...

    def remove(self, key: str) -> None:
        """Forget ``key``."""
        ...


class VersionedStore(KeyValueStore, Protocol):
    """A store that can tell cheaply whether anything in it changed since a given moment."""

    def version(self) -> int:
        """A number that grows whenever a ``get`` could answer differently than before."""
        ...


def is_present(value: JSON | None) -> bool:
    """Whether a stored value counts, with JavaScript's truthiness: ``None``, ``""``, ``0``,
    ``False`` do not (an empty object does)."""
    if value is None or value is False or value == "":
        return False
    return not (type(value) in (int, float) and value == 0)


class MemoryStore:
    """Values in a dict: nothing survives the process."""

    def __init__(self, values: Mapping[str, JSON] | None = None) -> None:
        self._values: dict[str, JSON] = dict(values or {})
        self._changes = 0

    def get(self, key: str) -> JSON | None:
        return self._values.get(key)

    def set(self, key: str, value: JSON | None) -> None:
        self._changes += 1
        if value is None:
            self._values.pop(key, None)
        else:
            self._values[key] = value

    def remove(self, key: str) -> None:
        self._changes += 1
        self._values.pop(key, None)

    def version(self) -> int:
        return self._changes


def _load_json_object(path: Path) -> dict[str, JSON]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        log.warning("%s is not JSON; starting from an empty local store", path)
        return {}
    return document if isinstance(document, dict) else {}


def _dump_json_object(document: dict[str, JSON], path: Path) -> None:
    replace_atomically(path, json.dumps(document, separators=(",", ":")).encode())


class LocalFileStore:
    """A JSON object in one file, like the browser's localStorage (values are JSON).

    Writes replace the file atomically under a lock, so processes sharing it never lose each
    other's keys; every process sees a write made by any other on its next access.
    """

    def __init__(self, path: Path | str, *, clock: Clock) -> None:
        self._file = SharedFile(
            Path(path), load=_load_json_object, dump=_dump_json_object, clock=clock
        )

    @property
    def path(self) -> Path:
        return self._file.path

    def get(self, key: str) -> JSON | None:
        return self._file.read().get(key)

    def version(self) -> int:
        return self._file.version()

    def set(self, key: str, value: JSON | None) -> None:
        if value is None:
            self.remove(key)
            return
        if self._file.read().get(key) == value:
            return

        def put(document: dict[str, JSON]) -> dict[str, JSON]:
            document[key] = value
            return document

        self._file.update(put)

    def remove(self, key: str) -> None:
        if key not in self._file.read():
            return

        def drop(document: dict[str, JSON]) -> dict[str, JSON]:
            document.pop(key, None)
            return document

        self._file.update(drop)

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class _Cookie:
    value: JSON
    expires: float


class CookieJarStore:
    """Identity cookies in a cookie-jar file (Netscape/Mozilla format) that honours expiry.

    Values are written raw as the browser source writes them and read in every historical form
    (see ``audience.sdk.cookies``). Each write sets the expiry ``max_age`` ahead (one year, as
    the browser); an expired cookie reads as absent.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Clock,
        domain: str = "localhost",
        max_age: timedelta = ONE_YEAR,
    ) -> None:
        self._clock = clock
        self._domain = domain
        self._max_age = max_age.total_seconds()
        self._monotonic = clock.monotonic
        self._wall_offset = clock.now().timestamp() - clock.monotonic()
        self._file = SharedFile(Path(path), load=self._load, dump=self._dump, clock=clock)
        self._expiry: tuple[int, float] = (-1, 0.0)

    @property
    def path(self) -> Path:
        return self._file.path

    def _wall_now(self) -> float:
        return self._clock.monotonic() + self._wall_offset

    def _load(self, path: Path) -> dict[str, _Cookie]:
        jar = http.cookiejar.MozillaCookieJar(str(path))
        try:
            jar.load(ignore_discard=True, ignore_expires=True)
        except FileNotFoundError:
            return {}
        except (OSError, http.cookiejar.LoadError) as exc:
            log.warning("cannot read cookie jar %s: %s", path, exc)
            return {}
        return {
            cookie.name: _Cookie(decode_cookie_value(cookie.value or ""), float(cookie.expires))
            for cookie in jar
            if cookie.expires is not None
        }

    def _dump(self, document: dict[str, _Cookie], path: Path) -> None:
        lines = ["# Netscape HTTP Cookie File", ""]
        now = self._wall_now()
        for name, cookie in document.items():
            if cookie.expires <= now:
                continue
            text = encode_cookie_value(cookie.value)
            lines.append(
                "\t".join(
                    [self._domain, "FALSE", "/", "FALSE", str(int(cookie.expires)), name, text]
                )
            )
        replace_atomically(path, ("\n".join(lines) + "\n").encode())

    def get(self, key: str) -> JSON | None:
        cookie = self._file.read().get(key)
        if cookie is None or cookie.expires <= self._wall_now():
            return None
        return cookie.value

    def version(self) -> int:
        """The file's version, made odd once a cookie in it has expired."""
        now = self._monotonic()
        generation = self._file.version(now)
        seen, first_expiry = self._expiry
        if seen != generation:
            expiries = [cookie.expires for cookie in self._file.read().values()]
            first_expiry = min(expiries, default=float("inf"))
            self._expiry = (generation, first_expiry)
        return generation * 2 + (now + self._wall_offset >= first_expiry)

    def set(self, key: str, value: JSON | None) -> None:
        if value is None:
            self.remove(key)
            return
        expires = self._wall_now() + self._max_age

        def put(document: dict[str, _Cookie]) -> dict[str, _Cookie]:
            document[key] = _Cookie(value, expires)
            return document

        self._file.update(put)

    def remove(self, key: str) -> None:
        if key not in self._file.read():
            return

        def drop(document: dict[str, _Cookie]) -> dict[str, _Cookie]:
            document.pop(key, None)
            return document

        self._file.update(drop)

    def expires_at(self, key: str) -> float | None:
        """When the cookie ``key`` expires (seconds since the epoch), or ``None``."""
        cookie = self._file.read().get(key)
        return None if cookie is None else cookie.expires

    def close(self) -> None:
        self._file.close()


class RequestCookieStore:
    """The identity cookies of one HTTP request, and the ``Set-Cookie`` headers its answer needs.

    Reads come from the request's ``Cookie`` header values (any browser-source encoding); writes
    change what later reads see and are rendered with ``render_set_cookie`` (raw value, ``Path=/``,
    one year, ``SameSite=Lax``, ``domain``) for the response. A web middleware wraps one per
    request and hands it to ``Analytics.for_store``.
    """

    def __init__(
        self,
        cookies: Mapping[str, str],
        *,
        domain: str | None = None,
        max_age: timedelta = ONE_YEAR,
        secure: bool = False,
        path: str = "/",
        same_site: SameSite = "Lax",
    ) -> None:
        self._values: dict[str, JSON] = {}
        for name, text in cookies.items():
            value = decode_cookie_value(text)
            if value is not None:
                self._values[name] = value
        self._domain = domain
        self._max_age = max_age
        self._secure = secure
        self._path = path
        self._same_site: SameSite = same_site
        self._changed: dict[str, JSON | None] = {}
        self._changes = 0

    def get(self, key: str) -> JSON | None:
        return self._values.get(key)

    def set(self, key: str, value: JSON | None) -> None:
        if value is None:
            self.remove(key)
            return
        self._changes += 1
        self._values[key] = value
        self._changed[key] = value

    def remove(self, key: str) -> None:
        self._changes += 1
        if self._values.pop(key, None) is not None or key in self._changed:
            self._changed[key] = None

    def version(self) -> int:
        return self._changes

    def set_cookie_headers(self, *, refresh: Iterable[str] = ()) -> list[str]:
        """One ``Set-Cookie`` value per cookie written or removed while handling the request,
        then one per name in ``refresh`` that the request carried and kept unchanged (so its
        expiry slides a full ``max_age`` ahead on every response, as the browser source's does)."""
        values = dict(self._changed)
        for name in refresh:
            if name not in values and name in self._values:
                values[name] = self._values[name]
        return [
            render_set_cookie(
                name,
                value,
                domain=self._domain,
                max_age=self._max_age,
                path=self._path,
                same_site=self._same_site,
                secure=self._secure,
            )
            for name, value in values.items()
        ]


class LayeredStore:
    """Several stores read in priority order, written all at once.

    A read takes the first present value and writes it back to every store that holds another
    value (so an expired cookie comes back from the local store). Writes go to every store.
    """

    def __init__(self, stores: Sequence[KeyValueStore]) -> None:
        self._stores = tuple(stores)
        self._versions: tuple[Callable[[], int], ...] | None = None
        if all(callable(getattr(store, "version", None)) for store in stores):
            self._versions = tuple(cast(VersionedStore, store).version for store in stores)

    def version(self) -> int | None:
        """The sum of every layer's version (each only grows, so any change moves the sum), or
        ``None`` when a layer cannot tell."""
        versions = self._versions
        if versions is None:
            return None
        if len(versions) == 3:  # the usual cookie, local file and memory: spelled out, it is
            first, second, third = versions  # read on every track()
            return first() + second() + third()
        return sum(version() for version in versions)

    def get(self, key: str) -> JSON | None:
        found: JSON | None = None
        for store in self._stores:
            value = _guarded(store.get, key)
            if is_present(value):
                found = value
                break
        if found is None:
            return None
        for store in self._stores:
            if _guarded(store.get, key) != found:
                _guarded(store.set, key, found)
        return found

    def set(self, key: str, value: JSON | None) -> None:
        for store in self._stores:
            _guarded(store.set, key, value)

    def remove(self, key: str) -> None:
        for store in self._stores:
            _guarded(store.remove, key)


def _guarded(operation: Callable[..., JSON | None], *args: JSON | None) -> JSON | None:
    """Run one store's operation; a store that fails is logged and skipped, like the browser's
    (the others still hold the identity)."""
    try:
        return operation(*args)
    except (StorageError, OSError) as exc:
        log.warning("a store failed and is skipped: %s", exc)
        return None

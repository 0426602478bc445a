"""Where an address is: a city-level location from a MaxMind-format database the operator supplies.

``Geolocator`` is the small protocol the collector uses; ``MaxMindGeolocator`` reads a GeoLite2 or
GeoIP2 City or Country database (``.mmdb``) with the ``maxminddb`` reader (its C extension: about
3 us a lookup). The unspecified address (``0.0.0.0``, the browser client's way to opt out, or
``::``) is never placed, whatever the database holds; malformed addresses have no location, nor do
private and loopback ones, which no such database lists.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Protocol

import maxminddb

from audience.errors import ConfigError


@dataclass(frozen=True)
class Location:
    """What a database knows of an address; any part may be unknown."""

    city: str | None = None
    country: str | None = None
    country_code: str | None = None
    region: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class Geolocator(Protocol):
    """Finds where an address is."""

    def locate(self, address: str) -> Location | None:
        """The address's location, or ``None`` when it has none."""
        ...

    def close(self) -> None:
        """Release the database."""
        ...


def is_opt_out(address: str) -> bool:
    """Whether ``address`` is the unspecified address, in any of its spellings."""
    if not address.startswith(("0", ":")):
        return False
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def _english(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    names = entry.get("names")
    name = names.get("en") if isinstance(names, dict) else None
    return name if isinstance(name, str) else None


def _location_of(record: Any) -> Location | None:
    if not isinstance(record, dict):
        return None
    country = record.get("country")
    subdivisions = record.get("subdivisions")
    region = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else None
    found_point = record.get("location")
    point: dict[str, Any] = found_point if isinstance(found_point, dict) else {}
    code = country.get("iso_code") if isinstance(country, dict) else None
    latitude, longitude = point.get("latitude"), point.get("longitude")
    location = Location(
        city=_english(record.get("city")),
        country=_english(country),
        country_code=code if isinstance(code, str) else None,
        region=_english(region),
        latitude=float(latitude) if isinstance(latitude, int | float) else None,
        longitude=float(longitude) if isinstance(longitude, int | float) else None,
    )
    return location if location != Location() else None


LOCATIONS_CACHED: Final = 65_536
"""Addresses whose locations are remembered: a visitor sends many events from one address."""


class MaxMindGeolocator:
    """A ``Geolocator`` over one ``.mmdb`` file, opened once and read by every request."""

    def __init__(self, path: Path) -> None:
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ConfigError(f"geoip_db: {path} is not a MaxMind database ({exc})") from exc
        self._cached = lru_cache(maxsize=LOCATIONS_CACHED)(self._look_up)

    def locate(self, address: str) -> Location | None:
        return self._cached(address.strip())

    def _look_up(self, address: str) -> Location | None:
        if is_opt_out(address):
            return None
        try:
            record = self._reader.get(address)
        except (ValueError, maxminddb.InvalidDatabaseError):
            return None
        return _location_of(record)

    def close(self) -> None:
        self._reader.close()

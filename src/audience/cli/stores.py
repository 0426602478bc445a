"""The stores the commands open, their errors turned into the command's error message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from audience.config import Settings, load_settings
from audience.destinations.backend import open_delivery_store
from audience.destinations.delivery_store import DeliveryStore
from audience.errors import AudienceError
from audience.resolution.backend import open_profile_store
from audience.resolution.profile_store import SqlProfileStore
from audience.storage.backend import EventStore, event_store_exists, open_event_store


def open_events(settings: Settings) -> EventStore:
    """The event store ``settings`` name (created when missing)."""
    try:
        return open_event_store(settings)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def profile_stores(settings: Settings) -> Iterator[tuple[EventStore, SqlProfileStore]]:
    """The existing event store and the profile store beside it, closed at the end."""
    if not event_store_exists(settings):
        raise click.ClickException(f"no event store in {settings.data_dir}")
    events = open_events(settings)
    try:
        profiles = open_profile_store(settings)
        try:
            yield events, profiles
        finally:
            profiles.close()
    finally:
        events.close()


@contextmanager
def delivery_stores(**given: Any) -> Iterator[tuple[DeliveryStore, EventStore]]:
    """The delivery state and the event store of the settings with the options ``given``;
    any error of the stores, while open too, is the command's error."""
    try:
        settings = load_settings(overrides=given)
        state = open_delivery_store(settings)
        try:
            events = open_event_store(settings)
        except BaseException:
            state.close()
            raise
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield state, events
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        events.close()
        state.close()


@contextmanager
def profile_reader(**given: Any) -> Iterator[SqlProfileStore]:
    """The profile store of the settings with the options ``given``, for the dispatcher's
    warehouses that keep people tables."""
    try:
        profiles = open_profile_store(load_settings(overrides=given))
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield profiles
    finally:
        profiles.close()

"""Identity resolution: the identity graph that turns stored events into profiles of people."""

from __future__ import annotations

from audience.identity.identifiers import Identifier, is_junk
from audience.identity.profiles import (
    GroupMembership,
    IdentityWarning,
    LinkedEvent,
    MergeRecord,
    Profile,
)
from audience.resolution.profile_store import ProfileStore
from audience.resolution.resolver import Resolver
from audience.resolution.sqlite_profiles import SqliteProfileStore

__all__ = [
    "GroupMembership",
    "Identifier",
    "IdentityWarning",
    "LinkedEvent",
    "MergeRecord",
    "Profile",
    "ProfileStore",
    "Resolver",
    "SqliteProfileStore",
    "is_junk",
]

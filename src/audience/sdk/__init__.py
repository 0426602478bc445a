"""The Python SDK: the browser source's identity model for Python programs, delivered durably."""

from __future__ import annotations

from audience.retry import RetryPolicy
from audience.sdk.calls import Group, User
from audience.sdk.client import Analytics, default_storage_dir
from audience.sdk.cookies import decode_cookie_value, encode_cookie_value, render_set_cookie
from audience.sdk.delivery import HttpTransport, Transport
from audience.sdk.identity import GroupIdentity, Identity
from audience.sdk.isolation import IsolationPolicy
from audience.sdk.stores import (
    CookieJarStore,
    KeyValueStore,
    LayeredStore,
    LocalFileStore,
    MemoryStore,
    RequestCookieStore,
)
from audience.sdk.tracker import Tracker
from audience.sdk.worker import DeliveryPolicy

__all__ = [
    "Analytics",
    "CookieJarStore",
    "DeliveryPolicy",
    "Group",
    "GroupIdentity",
    "HttpTransport",
    "Identity",
    "IsolationPolicy",
    "KeyValueStore",
    "LayeredStore",
    "LocalFileStore",
    "MemoryStore",
    "RequestCookieStore",
    "RetryPolicy",
    "Tracker",
    "Transport",
    "User",
    "decode_cookie_value",
    "default_storage_dir",
    "encode_cookie_value",
    "render_set_cookie",
]

"""WSGI apps served for real on loopback by wsgiref in a thread, and the examples loaded as
modules (ASGI apps are served by ``support.LiveServer``)."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from support import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve ``app`` with wsgiref on ``http://127.0.0.1:PORT`` until the block ends."""
    server: WSGIServer = make_server("127.0.0.1", free_port(), app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=15)
        server.server_close()


def load_example(name: str) -> ModuleType:
    """The module ``examples/<name>.py`` (e.g. ``shop/shop``), loaded once."""
    module_name = "examples_" + name.replace("/", "_")
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # An example imports its folder's modules (shop_pages), as Python lets a script do.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[module_name] = module  # importable by name, as Django's ROOT_URLCONF needs
    spec.loader.exec_module(module)
    return module

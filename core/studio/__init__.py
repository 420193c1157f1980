"""glyph studio: the handwriting flow, restoration and the installed methods in a browser (``glyph serve``).

A local web app over glyph's public Python API only (``glyph.load(...).write`` / ``restore_checked`` /
``sample``, :mod:`glyph.font`, :mod:`glyph.data.refs`): what the page does, a Python user can do the same way.
Starlette, uvicorn and python-multipart come with the ``studio`` extra (``pip install 'glyph-cjk[studio]'``);
importing this module does not need them, calling :func:`serve`, :func:`start` or :func:`create_app` does.

    import glyph.studio
    running = glyph.studio.start(port=0)      # in the background (a notebook, a test)
    print(running.url); running.stop()
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import GlyphError
from .uploads import Limits

__all__ = ["INSTALL_HINT", "Limits", "Running", "create_app", "is_loopback", "serve", "start"]

INSTALL_HINT = "pip install 'glyph-cjk[studio]'"


def _require() -> None:
    """Raise a GlyphError naming the extra when the web stack is missing."""
    import importlib.util

    missing = [m for m in ("starlette", "uvicorn", "multipart") if importlib.util.find_spec(m) is None]
    if missing:
        names = ", ".join("python-multipart" if m == "multipart" else m for m in missing)
        raise GlyphError(f"glyph studio needs {names}, which glyph installs as an extra: {INSTALL_HINT}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(**options: Any) -> Any:
    """The studio as an ASGI app; see :func:`glyph.studio.app.create_app` for the options."""
    _require()
    from .app import create_app as make

    return make(**options)


def _bind(host: str, port: int) -> socket.socket:
    import ipaddress

    try:  # an address, never a name to look up: a typo must not wait on DNS
        ip = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host.strip("[]"))
    except ValueError:
        raise GlyphError(f"--host {host}: give an address of this machine: 127.0.0.1 (this machine only, the "
                         f"default), 0.0.0.0 (every network) or one of its own addresses") from None
    if not 0 <= port <= 65535:
        raise GlyphError(f"--port {port}: use a port from 1 to 65535 (0 picks a free one)")
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    address = (str(ip), port, 0, 0) if ip.version == 6 else (str(ip), port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise GlyphError(f"port {port} on {host} is in use (another glyph serve?); choose another with "
                             f"--port") from None
        raise GlyphError(f"cannot listen on {host}:{port} ({e.strerror or e}); try --host 127.0.0.1 or another "
                         f"--port") from None
    sock.listen(128)
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # a browser here reaches it there
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"http://{shown}:{port}/"


def _server(host: str, port: int, options: dict[str, Any]) -> tuple[Any, socket.socket, str]:
    _require()
    import uvicorn

    from .app import create_app as make

    sock = _bind(host, port)  # first: a taken port or a bad host costs no model queue and no temporary folder
    try:
        app = make(loopback=is_loopback(host), **options)
    except BaseException:
        sock.close()
        raise
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=15)
    return uvicorn.Server(config), sock, _url(sock, host)


def serve(host: str = "127.0.0.1", port: int = 8000, *, on_ready: Callable[[str], None] | None = None,
          **options: Any) -> None:
    """Run the studio until Ctrl-C (or SIGTERM); work in progress is cancelled at its next step and every session's
    files are removed before it returns.

    :param host: the address to listen on; the default answers this machine only.
    :param port: the port (0: a free one).
    :param on_ready: called with the page's URL once the server listens.
    :param options: ``device``, ``precision``, ``limits`` (:class:`Limits`), as for :func:`create_app`.
    :raises GlyphError: the web stack is missing, the port is taken, the host is not an address here.
    """
    server, sock, url = _server(host, port, options)
    if on_ready is not None:
        on_ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


@dataclass
class Running:
    """A studio serving in a background thread (:func:`start`)."""

    url: str
    server: Any
    thread: threading.Thread
    sock: socket.socket

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving, cancel work and remove the sessions' files; returns when it is done."""
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()


def start(host: str = "127.0.0.1", port: int = 0, **options: Any) -> Running:
    """Serve the studio from a background thread and return once it answers: for notebooks and tests.

    :param port: 0 (the default) picks a free port; :attr:`Running.url` says which.
    """
    server, sock, url = _server(host, port, options)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="glyph-studio", daemon=True)
    thread.start()
    import time

    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        raise GlyphError("the studio did not start within 30 s")
    return Running(url, server, thread, sock)

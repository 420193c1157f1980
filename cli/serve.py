"""``glyph serve``: the handwriting flow, restoration and the methods in a browser (glyph studio)."""

from __future__ import annotations

import typer

from .console import STATE, err, info, out, warn


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on; the default answers this machine only "
                                               "(0.0.0.0: every network, with no login: only on networks you trust)"),
    port: int = typer.Option(8000, help="port to listen on (0: a free one)"),
) -> None:
    """Start glyph studio: drop photos of your handwriting, type a text, download your font; restore damaged
    glyphs; explore the methods. Needs the studio extra: pip install 'glyph-cjk\\[studio]'."""
    from glyph.studio import is_loopback
    from glyph.studio import serve as run_studio

    def ready(url: str) -> None:
        if not is_loopback(host):
            warn(f"listening on {host}: anyone who can reach this machine can use the studio and its models (there "
                 f"is no login); use the default --host 127.0.0.1 unless you trust the network")
        out.print(f"glyph studio: open {url} in a browser (Ctrl-C stops it)")
        from glyph.device import resolve_device

        info(f"models run on {resolve_device(STATE.device)}; uploads and results stay in a temporary folder that "
             f"is removed when the session ends or the studio stops")

    try:
        run_studio(host, port, device=STATE.device, precision=STATE.precision, on_ready=ready)
    except KeyboardInterrupt:  # uvicorn shuts down cleanly first, then passes the Ctrl-C on: the way to stop it
        pass
    err.print("glyph studio stopped; its temporary files were removed")


def install(app: typer.Typer) -> None:
    """Add ``glyph serve``."""
    app.command("serve")(serve)

"""`python -m chatapp`: read the configuration, check it, and serve the app."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from types import FrameType

from dotenv import load_dotenv
from nicegui import ui
from nicegui.storage import Storage

from chatapp.app import setup
from chatapp.auth.rules import is_loopback_host, session_cookie_options
from chatapp.db import Database, SchemaError
from chatapp.http_protocol import HttpProtocol
from chatapp.settings import ConfigError, Settings, load_settings, prepare_data_dir


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='python -m chatapp',
        description='chatapp: a team chat with large language models. Settings come from the environment '
                    'and from .env in the working directory (see .env.example); flags override them.')
    parser.add_argument('--host', help=f'address to listen on (CHATAPP_HOST, default {Settings.host})')
    parser.add_argument('--port', type=int, help=f'port to listen on (CHATAPP_PORT, default {Settings.port})')
    parser.add_argument('command', nargs='?', choices=['serve', 'migrate'], default='serve',
                        help='serve (default): run the app; migrate: upgrade the database schema and exit')
    return parser.parse_args(argv)


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            setting = 'CHATAPP_PORT/--port' if error.errno == 98 else 'CHATAPP_HOST/--host'
            raise ConfigError(f'{setting}: cannot listen on {host}:{port} ({error.strerror})') from None


def check_exposure(settings: Settings) -> None:
    """Without a login provider whoever reaches the port is the local user: loopback only, unless asked for."""
    if settings.login_enabled or settings.allow_anonymous or is_loopback_host(settings.host):
        return
    raise ConfigError(f'CHATAPP_HOST/--host {settings.host}: no login provider is configured (OIDC_* or GITHUB_*), '
                      'so anyone who reaches it would be the local user; listen on 127.0.0.1, configure a '
                      'provider, or set CHATAPP_ALLOW_ANONYMOUS=1')


async def check_database(url: str, *, migrate: bool = False) -> str:
    """Reach the database before serving, so a bad DATABASE_URL fails clearly; create or upgrade its schema."""
    database = Database(url)
    try:
        if migrate:
            await database.migrate()
            return 'the database schema is up to date'
        await database.prepare_schema()
        return 'ok'
    except SchemaError as error:
        raise ConfigError(f'DATABASE_URL: {error}') from None
    except Exception as error:
        reason = str(getattr(error, 'orig', None) or error).splitlines()[0]
        raise ConfigError(f'DATABASE_URL: cannot use the database ({reason})') from None
    finally:
        await database.close()


async def check_redis(url: str) -> None:
    """Reach Redis before serving: instances that cannot see each other's events must not start."""
    import redis.asyncio as redis
    client = redis.from_url(url, socket_connect_timeout=5)
    try:
        await client.ping()
    except Exception as error:
        raise ConfigError(f'REDIS_URL: cannot reach Redis ({error})') from None
    finally:
        await client.aclose()


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM (systemctl stop) ends the process with status 0.

    uvicorn catches SIGTERM while it serves and shuts down gracefully (our on_shutdown lets running replies
    finish), then puts back the handler it found and raises the signal again. With Python's default handler
    that re-raise kills the finished process ("killed by SIGTERM", 143); this handler exits with 0 instead,
    then as well as when the signal comes before uvicorn has taken over.
    """
    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_sigterm)


def main(argv: list[str] | None = None) -> None:
    simulated = os.environ.get('NICEGUI_USER_SIMULATION') == 'true'  # under NiceGUI's pytest User fixture
    args = parse_args([] if simulated else sys.argv[1:] if argv is None else argv)
    load_dotenv(os.path.join(os.getcwd(), '.env'))
    if args.host:
        os.environ['CHATAPP_HOST'] = args.host
    if args.port is not None:
        os.environ['CHATAPP_PORT'] = str(args.port)
    if not simulated:
        os.umask(0o077)  # what the app writes (database, secret, login sessions) is readable by its user only
    try:
        settings = prepare_data_dir(load_settings())
        if args.command == 'migrate':
            print(f'chatapp: {asyncio.run(check_database(settings.database_url, migrate=True))}')
            return
        check_exposure(settings)
        if not simulated:
            exit_cleanly_on_sigterm()
            check_port_free(settings.host, settings.port)
            asyncio.run(check_database(settings.database_url))
            if settings.redis_url:
                asyncio.run(check_redis(settings.redis_url))
        setup(settings)  # builds the model client: one that cannot be built stops the app here
    except ConfigError as error:
        print(f'chatapp: configuration error: {error}', file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    Storage.path = settings.data_dir / 'sessions'  # NiceGUI's per-user storage, beside our other data
    Storage.redis_url = settings.redis_url or Storage.redis_url  # shared by every instance when scaled out
    # no in-browser Tailwind: chatapp/components/base_style.py says why
    ui.run(host=settings.host, port=settings.port, title='chatapp', favicon='💬', reload=False, show=False,
           storage_secret=settings.storage_secret, reconnect_timeout=settings.reconnect_timeout,
           show_welcome_message=False, tailwind=False, session_middleware_kwargs=session_cookie_options(settings),
           proxy_headers=True, forwarded_allow_ips=list(settings.forwarded_allow_ips), http=HttpProtocol)


if __name__ in {'__main__', '__mp_main__'}:
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops it: no traceback
        main()

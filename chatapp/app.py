"""Assembles the app: services, start-up and shutdown, the health route and the pages."""

from __future__ import annotations

import asyncio

from fastapi.responses import JSONResponse
from nicegui import app

from chatapp import auth
from chatapp import services as services_module
from chatapp.services import Services
from chatapp.settings import Settings


def setup(settings: Settings) -> Services:
    """Create this process's services and register everything the server answers."""
    services = Services.create(settings)
    services_module.install(services)
    app.on_startup(services.start)
    app.on_shutdown(services.stop)

    @app.get('/healthz', include_in_schema=False)
    async def healthz() -> JSONResponse:
        try:
            await asyncio.wait_for(services.ready(), timeout=5)
            database_ok = await services.database.ping()
        except TimeoutError:
            database_ok = False
        return JSONResponse({'status': 'ok' if database_ok else 'unavailable',
                             'database': 'ok' if database_ok else 'unreachable'},
                            status_code=200 if database_ok else 503)

    auth.setup(settings)  # the login routes, and the login every page needs when a provider is configured
    from chatapp.pages import chat  # noqa: F401  (registers the pages)
    return services

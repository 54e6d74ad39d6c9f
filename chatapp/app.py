"""The composition root: builds the services once and hands them to the health route, login and pages."""

from __future__ import annotations

import asyncio
import gc

from fastapi.responses import JSONResponse
from nicegui import app

from chatapp import auth, pages, rendering
from chatapp.http_security import SecurityMiddleware
from chatapp.services import Services
from chatapp.settings import Settings


def setup(settings: Settings) -> Services:
    """Create this process's services and register everything the server answers."""
    services = Services.create(settings)
    app.state.services = services  # for tools outside the pages (tests, diagnostics); pages are handed theirs
    app.on_startup(services.start)
    app.on_startup(_calm_the_garbage_collector)
    app.on_shutdown(services.stop)

    @app.get('/healthz', include_in_schema=False)
    async def healthz() -> JSONResponse:
        try:
            await asyncio.wait_for(services.ready(), timeout=5)
            database_ok = await services.database.ping()
        except TimeoutError:
            database_ok = False
        # an unreachable model endpoint is reported, not fatal: the history stays readable meanwhile
        return JSONResponse({'status': 'ok' if database_ok else 'unavailable',
                             'database': 'ok' if database_ok else 'unreachable',
                             'model': services.model_status(),
                             'endpoints': services.catalog.status()},
                            status_code=200 if database_ok else 503)

    logins = auth.setup(app, services)  # the login routes, and the login pages need when a provider is set
    rendering.allow_image_hosts(settings.image_hosts)
    # added after the login middleware, so it runs before it: a cross-site request is refused untouched
    app.add_middleware(SecurityMiddleware, public_url=settings.public_url,
                       image_hosts=set(settings.image_hosts + settings.avatar_hosts),
                       max_upload_bytes=int(settings.max_import_mb * 1_000_000))  # the import's upload
    pages.register(services, logins)
    return services


GC_YOUNG_OBJECTS = 20_000  # Python's default, 700, starts a collection every few hundred allocations


def _calm_the_garbage_collector() -> None:
    """Fewer, shorter pauses of the event loop: a collection stops every streaming reply of this process.

    What start-up created (modules, classes, the app) lives as long as the process, so it is moved out of
    the collector's sight, where each full collection would walk it again."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])

"""The pages, registered in one place with what they need."""

from fastapi.responses import RedirectResponse
from nicegui import ui

from chatapp.auth.logins import Logins
from chatapp.pages.chat import ChatPage
from chatapp.pages.login import login_page, refused_page
from chatapp.services import Services

# NiceGUI cancels a page not built within 3 s and leaves the browser an empty one; under load the database
# reads can take longer: a slow page beats a broken one
PAGE_TIMEOUT_SECONDS = 30.0


def register(services: Services, logins: Logins) -> None:
    @ui.page('/', response_timeout=PAGE_TIMEOUT_SECONDS)
    async def new_chat() -> None:
        await services.ready()
        await ChatPage(services, logins, None).build()

    @ui.page('/c/{conversation_id}', response_timeout=PAGE_TIMEOUT_SECONDS)
    async def conversation(conversation_id: str) -> None:
        await services.ready()
        await ChatPage(services, logins, conversation_id).build()

    @ui.page('/login', title='Sign in · chatapp')
    def login(next: str = '', error: str = '', logged_out: str = '') -> RedirectResponse | None:
        return login_page(logins, next, error, logged_out)

    @ui.page('/login/refused', title='Access refused · chatapp')
    def refused() -> RedirectResponse | None:
        return refused_page(logins)

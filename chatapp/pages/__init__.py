"""The pages, registered in one place with what they need."""

from fastapi.responses import RedirectResponse
from nicegui import ui

from chatapp.auth.logins import LoginRequired, Logins
from chatapp.pages.attachments import add_routes as add_attachment_routes
from chatapp.pages.chat import ChatPage
from chatapp.pages.link import LinkPage
from chatapp.pages.login import login_page, refused_page
from chatapp.pages.transfer import add_routes as add_transfer_routes
from chatapp.services import Services

# NiceGUI cancels a page not built within 3 s and leaves the browser an empty one; under load the database
# reads can take longer: a slow page beats a broken one
PAGE_TIMEOUT_SECONDS = 30.0


def register(services: Services, logins: Logins) -> None:
    add_transfer_routes(services, logins)  # the export downloads
    add_attachment_routes(services, logins)  # an attachment, for those who may read its question

    @ui.page('/', response_timeout=PAGE_TIMEOUT_SECONDS)
    async def new_chat() -> None:
        await services.ready()
        await ChatPage(services, logins, None).build()

    @ui.page('/c/{conversation_id}', response_timeout=PAGE_TIMEOUT_SECONDS)
    async def conversation(conversation_id: str, m: str = '') -> None:
        """`m`: a message to show, e.g. a search result (anything else is left alone)."""
        await services.ready()
        await ChatPage(services, logins, conversation_id, int(m) if m.isdecimal() and len(m) < 19 else None).build()

    @ui.page('/s/{token}', title='Shared conversation · chatapp', response_timeout=PAGE_TIMEOUT_SECONDS)
    async def shared_link(token: str) -> None:
        await services.ready()
        try:
            user_id = logins.acting_user_id()
        except LoginRequired:  # only with CHATAPP_PUBLIC_LINKS: the middleware asks everyone else to log in
            user_id = ''
        await LinkPage(services, logins, token, user_id).build()

    @ui.page('/login', title='Sign in · chatapp')
    def login(next: str = '', error: str = '', logged_out: str = '') -> RedirectResponse | None:
        return login_page(logins, next, error, logged_out)

    @ui.page('/login/refused', title='Access refused · chatapp')
    def refused() -> RedirectResponse | None:
        return refused_page(logins)

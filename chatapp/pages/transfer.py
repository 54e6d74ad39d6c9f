"""Export and import on the pages: the download routes, the account menu's two items with the import dialog, and
a conversation's export menu. The work is chatapp/transfer's; the store decides who may export what."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from typing import IO

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from nicegui import app, events, ui
from nicegui.elements.upload_files import FileUpload

from chatapp.auth.logins import Logins
from chatapp.models import utcnow
from chatapp.pages.model_picker import model_label
from chatapp.services import Services
from chatapp.transfer import export
from chatapp.transfer.imports import BadFile, ImportReport, import_file
from chatapp.transfer.reading import megabytes as _mb

NOT_FOUND = 'Not found'  # the same for a conversation that is not there and one the person may not read
SHOWN_LINKS = 5  # imported conversations linked from the summary
ACCEPT = '.json,.zip,application/json,application/zip'
# the uploader as one drop zone: no byte count of a file that is gone once imported, no empty list below it
IMPORT_CSS = '''
.import-upload .q-uploader__subtitle { display: none; }
.import-upload .q-uploader__list { min-height: 0; padding: 0; }
'''


# --- the downloads --------------------------------------------------------------------------------------------

def add_routes(services: Services, logins: Logins) -> None:
    """GET /export/all.zip (the person's own conversations) and /export/<id>.json or .md (one they may read)."""
    def label(key: str) -> str:
        return model_label(services.catalog, key)

    @app.get('/export/all.zip', include_in_schema=False)
    async def export_all(request: Request) -> Response:
        await services.ready()
        user_id = logins.request_user_id(request)
        if user_id is None:
            return PlainTextResponse('Login required', status_code=401)
        now = utcnow()
        person = (logins.current(request) or {}).get('name', '') if logins.enabled else 'the local user'
        name = f'chatapp-export-{now:%Y-%m-%d}'
        return StreamingResponse(export.all_data(services.store, user_id, person or 'you', now, label),
                                 media_type='application/zip', headers=_download_headers(name, '.zip'))

    @app.get('/export/{conversation_id}.json', include_in_schema=False)
    async def export_json(request: Request, conversation_id: str) -> Response:
        return await _one(request, conversation_id, '.json')

    @app.get('/export/{conversation_id}.md', include_in_schema=False)
    async def export_markdown(request: Request, conversation_id: str) -> Response:
        return await _one(request, conversation_id, '.md')

    async def _one(request: Request, conversation_id: str, suffix: str) -> Response:
        await services.ready()
        user_id = logins.request_user_id(request)
        if user_id is None:
            return PlainTextResponse('Login required', status_code=401)
        tree = await services.store.read_tree(user_id, conversation_id[:36])
        if tree is None:
            return PlainTextResponse(NOT_FOUND, status_code=404)
        now = utcnow()
        if suffix == '.json':
            body, media = await asyncio.to_thread(export.json_bytes, tree, now), 'application/json'
        else:
            body = (await asyncio.to_thread(export.markdown, tree, now, label)).encode()
            media = 'text/markdown; charset=utf-8'
        return Response(body, media_type=media, headers=_download_headers(tree.conversation.title, suffix))


def _download_headers(title: str, suffix: str) -> dict[str, str]:
    return {'Content-Disposition': export.content_disposition(title, suffix), 'Cache-Control': 'no-store'}


# --- a conversation's export menu -----------------------------------------------------------------------------

def export_menu(conversation_id: Callable[[], str | None]) -> None:
    """In the chat page's header: the conversation as Markdown or as JSON (its id read when chosen: a new
    conversation gets one with its first message)."""
    def download(suffix: str) -> None:
        chosen = conversation_id()
        if chosen is None:
            ui.notify('Nothing to export yet: send a message first.', position='top')
            return
        ui.download.from_url(f'/export/{chosen}{suffix}')

    with ui.button(icon='download').props('flat round dense aria-label="Export conversation" '
                                          'aria-haspopup=menu data-testid=export-button'), \
            _menu().props('data-testid=export-menu'):
        _item('Markdown (.md)', 'article', lambda: download('.md'), 'export-md')
        _item('JSON with every branch (.json)', 'data_object', lambda: download('.json'), 'export-json')


def _menu() -> ui.menu:
    """A menu whose first item takes the focus as it opens: Tab and Enter reach every item from the keyboard."""
    menu = ui.menu()
    menu.on('show', js_handler=f'() => document.getElementById("c{menu.id}")?.querySelector(".q-item")?.focus()')
    return menu


def _item(text: str, icon: str, on_click: Callable[[], object], testid: str) -> ui.menu_item:
    with ui.menu_item(on_click=on_click).props(f'data-testid={testid}') as item:
        with ui.item_section().props('avatar'):
            ui.icon(icon, size='20px')
        ui.item_section(text)
    return item


# --- the account menu ---------------------------------------------------------------------------------------

def account_menu(services: Services, logins: Logins, heading: str, note: str) -> None:
    """The account menu, in the element that opens it (the header's avatar and name, or the local-mode marker):
    who it is (`heading`, `note`), all of the person's data as a ZIP, and importing conversations."""
    home, user_id = ui.context.slot.parent, logins.acting_user_id()
    dialog: list[ImportDialog] = []  # made at its first use: most pages never import

    def open_import() -> None:
        if not dialog:
            with home:
                dialog.append(ImportDialog(services, logins, user_id))
        dialog[0].open()

    with _menu().props('data-testid=account-menu').classes('account-menu'):
        with ui.column().classes('account-menu-heading gap-0 px-4 pt-3 pb-2').style('max-width: 290px'):
            ui.label(heading).classes('text-sm font-medium')
            if note:
                ui.label(note).classes('text-xs opacity-70')
        ui.separator()
        _item('Export all data', 'download', lambda: ui.download.from_url('/export/all.zip'), 'export-all')
        _item('Import conversations', 'upload', open_import, 'import-open')


class ImportDialog:
    """A file chosen (or dropped), uploaded, then imported: progress as 'N of M conversations', then what was
    imported, skipped (there already) and why any failed. An import goes on if the page is closed meanwhile:
    the conversations then appear in the person's other pages' lists."""

    def __init__(self, services: Services, logins: Logins, user_id: str) -> None:
        self.services = services
        self.logins = logins
        self.user_id = user_id
        self.limit = int(services.settings.max_import_mb * 1_000_000)
        ui.add_css(IMPORT_CSS)
        with ui.dialog().props('data-testid=import-dialog') as self.dialog, \
                ui.card().classes('import-card w-full gap-3'):
            ui.label('Import conversations').classes('text-lg font-semibold')
            ui.label(f'A chatapp export (the ZIP of all data, or one conversation’s .json), or ChatGPT’s data export '
                     f'(its ZIP, or the conversations.json in it), up to {_mb(self.limit)}. '
                     'Conversations imported before are skipped.').classes('text-sm import-help')
            self.upload = ui.upload(auto_upload=True, max_file_size=self.limit, on_upload=self._received,
                                    on_rejected=self._rejected, label='Choose or drop a file') \
                .props(f'accept="{ACCEPT}" flat bordered data-testid=import-upload').classes('import-upload w-full')
            self.progress = ui.linear_progress(value=0, show_value=False).props('rounded size=8px animation-speed=200')
            self.status = ui.label().classes('text-sm').props('data-testid=import-progress role=status')
            self.error = ui.label().classes('text-sm text-negative').props('data-testid=import-error role=alert')
            self.summary = ui.column().classes('w-full gap-1 text-sm').props('data-testid=import-summary')
            with ui.row().classes('w-full justify-end'):
                ui.button('Close', on_click=self.dialog.close).props('flat no-caps data-testid=import-close')
        self._show(None)

    def open(self) -> None:
        self.dialog.open()

    def _show(self, status: str | None, *, error: str = '') -> None:
        """The progress and its line (None: neither), or what is wrong with the file."""
        self.progress.set_visibility(status is not None)
        self.status.set_visibility(status is not None)
        self.status.set_text(status or '')
        self.error.set_text(error)
        self.error.set_visibility(bool(error))  # (an empty one would still take its gap)
        self.summary.set_visibility(False)

    def _rejected(self) -> None:
        self._fail(f'That file is larger than the {_mb(self.limit)} one may import.')

    def _fail(self, message: str) -> None:
        self._show(None, error=message)
        self.upload.reset()

    async def _received(self, event: events.UploadEventArguments) -> None:
        """Checked here, on the server: the page's limits are only a courtesy, and NiceGUI's upload route asks for
        no login."""
        if not self.logins.still_logged_in(self.user_id):
            self._fail('Your login has ended: log in again, then import.')
            return
        self.summary.clear()
        self.progress.set_value(0)
        self._show(f'Reading {event.file.name}…')
        self.upload.disable()  # one file at a time
        try:
            with tempfile.TemporaryFile() as file:
                await _copy(event.file, file, self.limit)
                report = await import_file(self.services.store, self.user_id, file, self.limit, self._progress)
        except BadFile as refusal:
            self._fail(str(refusal))
            return
        finally:
            self.upload.enable()
        self._summarize(report)
        self.upload.reset()

    def _progress(self, done: int, total: int) -> None:
        self.progress.set_value(done / total if total else 1)
        self.status.set_text(f'{done:,} of {total:,} conversations')

    def _summarize(self, report: ImportReport) -> None:
        self.summary.set_visibility(True)
        with self.summary:
            ui.label(_summary_line(report)).classes('font-medium').props('data-testid=import-result')
            for conversation_id, title in report.imported[:SHOWN_LINKS]:
                ui.link(title, f'/c/{conversation_id}').props('data-testid=import-opened')
            if len(report.imported) > SHOWN_LINKS:
                ui.label(f'and {len(report.imported) - SHOWN_LINKS:,} more, in your history.')
            if report.failures:
                ui.label('Not imported:').classes('font-medium q-mt-sm')
                for which, why in report.failed:
                    ui.label(f'{which}: {why}').classes('import-failure').props('data-testid=import-failure')
                if report.more_failed:
                    ui.label(f'and {report.more_failed:,} more.')


def _summary_line(report: ImportReport) -> str:
    parts = [f'Imported {len(report.imported):,} of {report.total:,} '
             f'{"conversation" if report.total == 1 else "conversations"}.']
    if report.skipped:
        parts.append(f'{report.skipped:,} {"was" if report.skipped == 1 else "were"} there already.')
    if report.failures:
        parts.append(f'{report.failures:,} could not be imported.')
    return ' '.join(parts)


async def _copy(upload: FileUpload, file: IO[bytes], limit: int) -> None:
    """The upload into a file of our own, which the import reads as it pleases (seeking, in a worker thread)."""
    size = 0
    async for chunk in upload.iterate():
        size += len(chunk)
        if size > limit:
            raise BadFile(f'The file is larger than the {_mb(limit)} one may import.')
        await asyncio.to_thread(file.write, chunk)

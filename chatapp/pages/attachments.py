"""Files on a question: the composer's tray (attached by its button, dropped on the composer or pasted; shown as
chips to check and remove before sending), the chips of a sent question, and the routes: the one every page's tray
uploads to, and those that serve an attachment to people who may read its conversation (nobody else: not found).

The page posts each file's bytes to POST /files/upload (static/page.js), naming its tray by a random key; NiceGUI's
`ui.upload` would build a FastAPI route for every page opened, and Quasar's uploader around it."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote
from weakref import WeakValueDictionary

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from nicegui import app, events, ui

from chatapp.attachments.content import IMAGE, NewAttachment, ShownFile, cut_note, framed, size_label
from chatapp.attachments.files import Kind, Unreadable, clean_name
from chatapp.attachments.worker import inspect
from chatapp.auth.logins import Logins
from chatapp.models import Attachment
from chatapp.services import Services

NOT_FOUND = 'Not found'  # the same for an attachment that is not there and one the person may not read
UPLOAD_PATH = '/files/upload'
MAX_NAME_HEADER = 2_000  # characters of a file's name as the page sends it (percent-encoded)
ICONS = {Kind.TEXT: 'description', Kind.PDF: 'picture_as_pdf', Kind.IMAGE: 'image'}
BUDGET_SHARE = 0.9  # of the prompt's budget, what a message's files may fill: the question needs room too


# --- the downloads --------------------------------------------------------------------------------------------

def add_routes(services: Services, logins: Logins) -> None:
    """GET /files/<id> (the file as it was attached) and /files/<id>/thumbnail, for a person who may read its
    conversation; /s/<token>/files/<id>… for whoever holds a read-only link that shows its question."""
    @app.get('/files/{attachment_id}', include_in_schema=False)
    async def original(request: Request, attachment_id: str) -> Response:
        return await _own(request, attachment_id, thumbnail=False)

    @app.get('/files/{attachment_id}/thumbnail', include_in_schema=False)
    async def thumbnail(request: Request, attachment_id: str) -> Response:
        return await _own(request, attachment_id, thumbnail=True)

    @app.get('/s/{token}/files/{attachment_id}', include_in_schema=False)
    async def linked(token: str, attachment_id: str) -> Response:
        await services.ready()
        return _response(await services.store.read_link_attachment(token, attachment_id), thumbnail=False)

    @app.get('/s/{token}/files/{attachment_id}/thumbnail', include_in_schema=False)
    async def linked_thumbnail(token: str, attachment_id: str) -> Response:
        await services.ready()
        return _response(await services.store.read_link_attachment(token, attachment_id, thumbnail=True),
                         thumbnail=True)

    @app.post(UPLOAD_PATH, include_in_schema=False)
    async def upload(request: Request) -> Response:
        """A file for the tray the page names; only from the person the page is for (the security middleware has
        refused a request from another site already)."""
        tray = _trays.get(request.headers.get('x-chatapp-tray', '')[:64])
        if tray is None or logins.request_user_id(request) != tray.user_id:
            return PlainTextResponse(NOT_FOUND, status_code=404)
        return await tray.receive(request)

    async def _own(request: Request, attachment_id: str, *, thumbnail: bool) -> Response:
        await services.ready()
        user_id = logins.request_user_id(request)
        if user_id is None:
            return PlainTextResponse('Login required', status_code=401)
        return _response(await services.store.read_attachment(user_id, attachment_id, thumbnail=thumbnail),
                         thumbnail=thumbnail)


def _response(found: tuple[Attachment, bytes] | None, *, thumbnail: bool) -> Response:
    """The bytes as stored. Only an image (checked by decoding it) shows in the page; anything else downloads, as
    plain text or a PDF, and is never run: a sandbox with no script, whatever a browser makes of it."""
    if found is None:
        return PlainTextResponse(NOT_FOUND, status_code=404)
    attachment, data = found
    image = thumbnail or attachment.kind == IMAGE
    media = 'image/webp' if thumbnail else attachment.media_type if image or attachment.kind == Kind.PDF \
        else 'text/plain; charset=utf-8'
    return Response(data, media_type=media, headers={
        'Content-Disposition': _disposition(attachment.name, inline=image),
        'Content-Security-Policy': "default-src 'none'; sandbox",
        'Cache-Control': 'private, max-age=31536000, immutable',  # an attachment never changes; access is checked
    })


def _disposition(name: str, *, inline: bool) -> str:
    ascii_name = name.encode('ascii', 'ignore').decode().replace('"', '').replace('\\', '') or 'file'
    return f'{"inline" if inline else "attachment"}; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(name, safe="")}'


# --- on a sent question --------------------------------------------------------------------------------------

def attachment_chips(attachments: list[ShownFile], url: Callable[[str, bool], str]) -> None:
    """A question's files: images as thumbnails that open the original, other files as chips that download it."""
    with ui.row().classes('question-files justify-end gap-2').props('data-testid=question-files'):
        for attachment in attachments:
            with ui.element('a').classes('file-link').props('data-testid=question-file') as link:
                link._props.update(href=url(attachment.id, False), title=attachment.name)  # set, not parsed
                if attachment.kind == IMAGE:
                    link._props.update(target='_blank', rel='noopener noreferrer')
                    image = ui.element('img').classes('file-thumbnail')
                    image._props.update(src=url(attachment.id, True), alt=attachment.name, loading='lazy',
                                        width=attachment.width, height=attachment.height)
                else:
                    link._props['download'] = attachment.name
                    _file_face(attachment.kind, attachment.name, attachment.size, attachment.note)


def _file_face(kind: str, name: str, size: int, note: str) -> None:
    ui.icon(ICONS.get(kind, 'description'), size='22px').classes('file-icon')
    with ui.column().classes('file-words gap-0'):
        ui.label(name).classes('file-name')
        ui.label(f'{kind.upper()} · {size_label(size)}' + (f' · {note}' if note else '')).classes('file-detail')


# --- the composer's tray -------------------------------------------------------------------------------------

@dataclass
class _Chip:
    name: str
    element: ui.element
    file: NewAttachment | None = None  # None: still being read


_trays: WeakValueDictionary[str, AttachmentTray] = WeakValueDictionary()  # by the key its page uploads with


class AttachmentTray:
    """The files of the message being written. Each is checked on the server as it comes (its type by its content,
    the limits, what of its text fits the model's context); the page's own checks are a courtesy."""

    def __init__(self, services: Services, logins: Logins, user_id: str, budget: Callable[[], int], *,
                 on_change: Callable[[], None]) -> None:
        """`budget`: the prompt budget of the model that will answer, in estimated tokens (0: none); `on_change`:
        called when a file comes or goes."""
        settings = services.settings
        self.logins = logins
        self.user_id = user_id
        self.budget = budget
        self.on_change = on_change
        self.max_file = int(settings.max_file_mb * 1_000_000)
        self.max_total = int(settings.max_attachments_mb * 1_000_000)
        self.max_count = settings.max_attachments
        self.chips: list[_Chip] = []
        self.key = secrets.token_urlsafe(18)
        _trays[self.key] = self
        ui.context.client.on_delete(lambda: _trays.pop(self.key, None))
        self.row = ui.row().classes('attachment-tray w-full gap-2').props('data-testid=attachment-tray')
        self.row.set_visibility(False)
        ui.on('attach_refused', self._too_large, args=['name', 'size'])

    def button(self) -> ui.button:
        """The composer's Attach button: it opens the file chooser in the page, at once."""
        return ui.button(icon='attach_file') \
            .props('flat round dense aria-label="Attach files" data-testid=attach') \
            .on('click', js_handler=f'() => chatappPickFiles({json.dumps(self.key)})')

    def accept_from(self, composer: ui.element, field: ui.element) -> None:
        """Files chosen, dropped on the composer, or pasted into its field (a screenshot from the clipboard) are
        uploaded to this tray (static/page.js)."""
        ui.run_javascript(f'chatappAcceptFiles({json.dumps(self.key)}, {composer.id}, {field.id}, {self.max_file})')

    @property
    def files(self) -> list[NewAttachment]:
        return [chip.file for chip in self.chips if chip.file is not None]

    @property
    def reading(self) -> bool:
        return any(chip.file is None for chip in self.chips)

    def clear(self) -> None:
        for chip in self.chips:
            chip.element.delete()
        self.chips.clear()
        self.row.set_visibility(False)
        self.on_change()

    def _too_large(self, event: events.GenericEventArguments) -> None:
        """The page did not send a file over the limit (it knows the size before uploading a byte)."""
        args = event.args if isinstance(event.args, dict) else {}
        name, size = clean_name(str(args.get('name', ''))[:MAX_NAME_HEADER]), args.get('size')
        size_said = f' has {size_label(size)};' if isinstance(size, int) and size > 0 else ' is too large:'
        self._refuse(f'{name}{size_said} a file may have {size_label(self.max_file)} at most. It was not attached.')

    async def receive(self, request: Request) -> Response:
        """One file from the page: refused in words (on the page) or shown as a chip once read and checked."""
        name = clean_name(unquote(request.headers.get('x-file-name', '')[:MAX_NAME_HEADER]))
        said = request.headers.get('content-length', '')
        refusal = self._refusal(name, int(said) if said.isdecimal() else 0)
        if refusal:
            self._refuse(refusal)
            return PlainTextResponse(refusal, status_code=413)
        chip = self._reading_chip(name)
        try:
            file = await self._checked(name, await _read(request, name, self.max_file))
        except Unreadable as refusal:
            self._remove(chip)
            self._refuse(str(refusal))
            return PlainTextResponse(str(refusal), status_code=422)
        if chip in self.chips:  # not removed (or sent) meanwhile
            chip.file = file
            self._show(chip)
            self.on_change()
        return PlainTextResponse('Attached')

    def _refusal(self, name: str, size: int) -> str:
        """Why a file is refused before a byte of it is read ('' when it is not)."""
        if not self.logins.still_logged_in(self.user_id):
            return f'Your login has ended: log in again, then attach {name}.'
        if len(self.chips) >= self.max_count:
            return f'A message may attach {self.max_count} files at most: {name} was not attached.'
        if size > self.max_file:
            return (f'{name} has {size_label(size)}; a file may have {size_label(self.max_file)} at most. '
                    'It was not attached.')
        return ''

    async def _checked(self, name: str, data: bytes) -> NewAttachment:
        attached = sum(f.size for f in self.files)
        if attached + len(data) > self.max_total:
            raise Unreadable(f'With {name} the files would come to {size_label(attached + len(data))}; a message may '
                             f'attach {size_label(self.max_total)} at most. It was not attached.')
        found = await inspect(name, data)
        text = found.text
        budget = self.budget()
        if text and budget:
            room = int(budget * 4 * BUDGET_SHARE) - sum(f.prompt_chars for f in self.files) \
                - len(framed(name, '', len(text) + 1))
            if room < 1_000:
                raise Unreadable(f'{name} does not fit: the files attached already fill the model’s context. '
                                 'It was not attached.')
            text = text[:room]
        return NewAttachment(name, found.kind, found.media_type, data, text, len(found.text), found.thumbnail,
                             found.width, found.height)

    def _refuse(self, message: str) -> None:
        with self.row:  # (called from the upload route too: the page's own context)
            ui.notify(message, type='warning', position='top', multi_line=True)
    def _reading_chip(self, name: str) -> _Chip:
        self.row.set_visibility(True)
        with self.row:
            element = ui.row().classes('attachment-chip items-center no-wrap gap-2') \
                .props('data-testid=attachment-chip data-state=reading')
        chip = _Chip(name, element)
        self.chips.append(chip)
        with element:
            ui.spinner(size='22px')
            ui.label(f'Reading {name}…').classes('file-name')
        return chip

    def _show(self, chip: _Chip) -> None:
        file = chip.file
        assert file is not None
        chip.element.clear()
        chip.element.props('data-state=ready')
        with chip.element:
            if file.thumbnail:
                image = ui.element('img').classes('chip-thumbnail')
                image._props.update(src=f'data:image/webp;base64,{base64.b64encode(file.thumbnail).decode()}',
                                    alt='')
                with ui.column().classes('file-words gap-0'):
                    ui.label(file.name).classes('file-name')
                    ui.label(f'{file.width}×{file.height} · {size_label(file.size)}').classes('file-detail')
            else:
                _file_face(file.kind, file.name, file.size, cut_note(len(file.text), file.text_chars))
            remove = ui.button(icon='close', on_click=lambda: self._remove(chip)) \
                .props('flat round dense size=sm data-testid=attachment-remove')
            remove._props['aria-label'] = f'Remove {file.name}'  # set, not parsed: a name may hold quotes

    def _remove(self, chip: _Chip) -> None:
        if chip in self.chips:
            self.chips.remove(chip)
            chip.element.delete()
        self.row.set_visibility(bool(self.chips))
        self.on_change()


async def _read(request: Request, name: str, limit: int) -> bytes:
    """The upload's bytes, up to `limit`: a body that said less than it holds is cut off there."""
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Unreadable(f'{name} is larger than {size_label(limit)}: it was not attached.')
        parts.append(chunk)
    return b''.join(parts)

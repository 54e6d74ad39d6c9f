"""What an attached file holds, decided by its bytes: texts in their encodings, PDFs made by hand, images made with
Pillow, and what a browser might send under a harmless name; then the same through the worker process, with its
time limit."""

from __future__ import annotations

import asyncio
import codecs
import io
import random
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest
from PIL import Image, ImageFile
from pypdf import PdfReader, PdfWriter

from chatapp.attachments import worker
from chatapp.attachments.files import Inspected, Kind, Unreadable, clean_name
from chatapp.attachments.reading import THUMBNAIL_PX, inspect_file
from tests.support.files import HELLO_PDF, made_image, made_pdf

NOT_ATTACHABLE = 'is not a text file, a PDF or an image (PNG, JPEG, GIF or WebP): it was not attached.'


def noisy_png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.frombytes('RGB', size, random.Random(1).randbytes(size[0] * size[1] * 3)).save(out, 'PNG')
    return out.getvalue()


def claiming(png: bytes, width: int, height: int) -> bytes:
    """The PNG with its header (IHDR) saying another size, its checksum right."""
    header = png[12:16] + struct.pack('>II', width, height) + png[24:29]
    return png[:12] + header + struct.pack('>I', zlib.crc32(header)) + png[33:]


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def refused(name: str, data: bytes) -> str:
    with pytest.raises(Unreadable) as caught:
        inspect_file(name, data)
    return str(caught.value)


# --- texts ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('data', 'text'), [
    ('Grüße, 世界\n'.encode(), 'Grüße, 世界\n'),
    (codecs.BOM_UTF8 + 'Grüße'.encode(), 'Grüße'),
    ('Grüße\r\nwelt'.encode('utf-16'), 'Grüße\nwelt'),  # with its BOM, in the machine's byte order
    (codecs.BOM_UTF16_BE + 'Grüße'.encode('utf-16-be'), 'Grüße'),
    ('café € 5'.encode('cp1252'), 'café € 5'),
    (b'one\r\ntwo\rthree\n', 'one\ntwo\nthree\n'),
    (b'page one\x0cpage two\n', 'page one\x0cpage two\n'),
    (b'\x1b[31merror\x1b[0m: disk full\n' * 20, '\x1b[31merror\x1b[0m: disk full\n' * 20),  # a terminal's log
])
def test_texts_in_their_encodings(data: bytes, text: str) -> None:
    assert inspect_file('notes.txt', data) == Inspected(Kind.TEXT, 'text/plain', text)


@pytest.mark.parametrize(('name', 'source'), [
    ('data.csv', 'name,amount\n"Smith, J",12.50\n'),
    ('data.json', '{"items": [1, 2, {"ok": true}]}'),
    ('page.html', '<!doctype html><title>x</title><script>alert(1)</script>'),
    ('drawing.svg', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ('check.py', "def is_pdf(data: bytes) -> bool:\n    return data.startswith(b'%PDF-')\n"),
    ('report', '# Report\n\n- one\n- two\n'),
])
def test_source_and_markup_are_text(name: str, source: str) -> None:
    inspected = inspect_file(name, source.encode())
    assert (inspected.kind, inspected.media_type, inspected.text) == (Kind.TEXT, 'text/plain', source)


@pytest.mark.parametrize('data', [b'', b'  \n\t\r\n', codecs.BOM_UTF8, '  \n'.encode('utf-16')])
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert refused('empty.txt', data) == 'empty.txt is empty.'


def test_control_characters_beyond_one_in_a_hundred_are_binary() -> None:
    assert inspect_file('a.txt', b'x' * 99 + b'\x01').kind == Kind.TEXT
    assert refused('a.txt', b'x' * 98 + b'\x01\x02') == f'a.txt {NOT_ATTACHABLE}'
    assert refused('a.txt', b'plain text with one NUL\x00') == f'a.txt {NOT_ATTACHABLE}'


@pytest.mark.parametrize(('name', 'data'), [
    ('script.txt', b'\x7fELF\x02\x01\x01' + bytes(4096)),
    ('report.pdf', zipped({'a.txt': 'hello ' * 100})),  # a .docx is one too
    ('photo.png', random.Random(0).randbytes(4096)),
    ('bitmap.png', made_image('BMP')),
    ('scan.jpg', made_image('TIFF')),
    ('text.txt', 'UTF-16 without its byte order mark'.encode('utf-16-le')),
])
def test_anything_else_is_refused_whatever_its_name(name: str, data: bytes) -> None:
    assert refused(name, data) == f'{name} {NOT_ATTACHABLE}'


# --- PDFs -------------------------------------------------------------------------------------------------------

def test_a_pdf_gives_its_text() -> None:
    inspected = inspect_file('hello.pdf', HELLO_PDF)
    assert (inspected.kind, inspected.media_type) == (Kind.PDF, 'application/pdf')
    assert 'Hello PDF' in inspected.text
    assert inspect_file('notes.txt', HELLO_PDF).kind == Kind.PDF  # by its content, not its name
    assert 'Hello PDF' in inspect_file('mail.pdf', b'From: someone\n\n' + HELLO_PDF).text  # after a preamble


def test_pages_are_joined_without_trailing_space() -> None:
    writer = PdfWriter(clone_from=io.BytesIO(HELLO_PDF))
    writer.append(PdfReader(io.BytesIO(HELLO_PDF)))
    out = io.BytesIO()
    writer.write(out)
    assert inspect_file('two.pdf', out.getvalue()).text == 'Hello PDF\n\nHello PDF'


def encrypted(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(HELLO_PDF))
    writer.encrypt(user_password=user_password, owner_password='owner', algorithm='AES-128')
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_encrypted_pdf_is_read_with_the_empty_password_only() -> None:
    assert 'Hello PDF' in inspect_file('open.pdf', encrypted('')).text
    assert refused('secret.pdf', encrypted('secret')) == 'secret.pdf is protected by a password: it was not attached.'


def test_a_pdf_without_text_is_refused() -> None:
    assert refused('scan.pdf', made_pdf(None)) == \
        'scan.pdf has no text to read (a scanned document?): it was not attached.'
    assert 'has no text to read' in refused('blank.pdf', made_pdf(b'BT /F1 24 Tf 72 720 Td (   ) Tj ET'))


@pytest.mark.parametrize('data', [b'%PDF-1.4\n' + b'junk ' * 200, HELLO_PDF[:len(HELLO_PDF) // 2],
                                  b'%PDF-1.4\n' + random.Random(2).randbytes(2000)])
def test_a_damaged_pdf_is_refused(data: bytes) -> None:
    assert refused('broken.pdf', data) == 'broken.pdf could not be read as a PDF: it may be damaged.'


# --- images -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('image_format', 'mode', 'media_type', 'thumbnail_mode'), [
    ('PNG', 'RGBA', 'image/png', 'RGBA'),
    ('JPEG', 'RGB', 'image/jpeg', 'RGB'),
    ('GIF', 'P', 'image/gif', 'RGB'),
    ('WEBP', 'RGB', 'image/webp', 'RGB'),
    ('PNG', 'I;16', 'image/png', 'RGB'),
])
def test_images_get_a_thumbnail(image_format: str, mode: str, media_type: str, thumbnail_mode: str) -> None:
    inspected = inspect_file('notes.txt', made_image(image_format, (1000, 500), mode))  # an image, whatever its name
    assert (inspected.kind, inspected.media_type, inspected.text) == (Kind.IMAGE, media_type, '')
    assert (inspected.width, inspected.height) == (1000, 500)
    with Image.open(io.BytesIO(inspected.thumbnail)) as thumbnail:
        assert (thumbnail.format, thumbnail.size, thumbnail.mode) == ('WEBP', (THUMBNAIL_PX, 160), thumbnail_mode)


def test_an_image_is_measured_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turned a quarter
    inspected = inspect_file('photo.jpg', made_image('JPEG', (400, 200), exif=exif))
    assert (inspected.width, inspected.height) == (200, 400)
    with Image.open(io.BytesIO(inspected.thumbnail)) as thumbnail:
        assert thumbnail.size == (160, THUMBNAIL_PX)


def test_a_small_image_keeps_its_size_in_its_thumbnail() -> None:
    with Image.open(io.BytesIO(inspect_file('icon.gif', made_image('GIF', (16, 16), 'P')).thumbnail)) as thumbnail:
        assert thumbnail.size == (16, 16)


@pytest.mark.parametrize('data', [noisy_png((200, 200))[:20_000], made_image('JPEG')[:3_000],
                                  made_image('GIF')[:500], b'\x89PNG\r\n\x1a\n' + bytes(100), b'GIF89a'])
def test_a_damaged_image_is_refused(data: bytes) -> None:
    assert refused('photo.png', data) == 'photo.png could not be read as an image: it may be damaged.'


@pytest.mark.parametrize('side', [8_000, 10_000, 20_000])  # past our limit; Pillow's warning; its error
def test_a_huge_image_is_refused_before_it_is_decoded(side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError('decoded')
    monkeypatch.setattr(ImageFile.ImageFile, 'load', no_decoding)
    message = refused('huge.png', claiming(made_image('PNG', (10, 10)), side, side))
    assert message == 'huge.png is too large an image (more than 50 million pixels): it was not attached.'


# --- names ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(('name', 'clean'), [
    ('report.pdf', 'report.pdf'),
    ('C:\\Users\\me\\Desktop\\report.pdf', 'report.pdf'),
    ('../../etc/passwd', 'passwd'),
    ('invoice\u202efdp.exe', 'invoicefdp.exe'),
    ('\u2066a\u2069b\u202a.txt', 'ab.txt'),
    ('tab\tnew\nline\x00\x7f\x85.txt', 'tabnewline.txt'),
    ('  spaced out.md \n', 'spaced out.md'),
    ('Grüße 世界.txt', 'Grüße 世界.txt'),
    ('', 'file'),
    ('folder/', 'file'),
    ('..', 'file'),
    ('\u202e', 'file'),
])
def test_clean_name(name: str, clean: str) -> None:
    assert clean_name(name) == clean


def test_a_long_name_is_shortened_keeping_its_extension() -> None:
    assert clean_name('x' * 300 + '.txt') == 'x' * 196 + '.txt'
    assert clean_name('x' * 300) == 'x' * 200
    assert clean_name('a.' + 'x' * 300) == 'a.' + 'x' * 198  # not an extension: too long


def test_messages_name_the_file_cleaned() -> None:
    assert refused('dir/evil\u202etxt.exe', b'') == 'eviltxt.exe is empty.'


# --- the worker process -----------------------------------------------------------------------------------------

async def test_the_worker_reads_a_text() -> None:
    assert await worker.inspect('notes.md', b'# Notes\r\n') == Inspected(Kind.TEXT, 'text/plain', '# Notes\n')


async def test_the_worker_reads_an_image() -> None:
    inspected = await worker.inspect('photo.jpg', made_image('JPEG', (1000, 500)))
    assert (inspected.kind, inspected.media_type, inspected.width, inspected.height) == \
        (Kind.IMAGE, 'image/jpeg', 1000, 500)
    assert inspected == inspect_file('photo.jpg', made_image('JPEG', (1000, 500)))  # the same thumbnail


async def test_the_worker_refuses_what_is_refused() -> None:
    with pytest.raises(Unreadable, match=r'^script\.txt is not a text file'):
        await worker.inspect('script.txt', b'\x7fELF' + bytes(1000))
    with pytest.raises(Unreadable, match=r'^secret\.pdf is protected by a password'):
        await worker.inspect('secret.pdf', encrypted('secret'))


def spied(monkeypatch: pytest.MonkeyPatch) -> tuple[list[asyncio.subprocess.Process], list[int]]:
    """The child processes started, and how many were running (started and not yet waited for, the new one
    included) as each started."""
    started: list[asyncio.subprocess.Process] = []
    running: list[int] = []
    alive: set[int] = set()
    start = asyncio.create_subprocess_exec

    async def spy(*args: str, **options: object) -> asyncio.subprocess.Process:
        alive.add(key := len(running))  # counted from before it starts: a start takes a while
        running.append(len(alive))
        started.append(process := await start(*args, **options))  # type: ignore[arg-type]
        wait = process.wait

        async def waited() -> int:
            code = await wait()
            alive.discard(key)
            return code
        process.wait = waited  # type: ignore[method-assign]  # communicate() waits through it
        return process
    monkeypatch.setattr(asyncio, 'create_subprocess_exec', spy)
    return started, running


async def test_a_slow_file_is_given_up_and_its_process_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    started, _ = spied(monkeypatch)
    monkeypatch.setattr(worker, 'INSPECT_SECONDS', 0.001)
    with pytest.raises(Unreadable, match=r'^slow\.pdf took too long to read: it was not attached\.$'):
        await worker.inspect('slow.pdf', HELLO_PDF)
    [process] = started
    assert process.returncode is not None and process.returncode < 0  # killed, and waited for


async def test_a_cancelled_inspection_ends_its_process(monkeypatch: pytest.MonkeyPatch) -> None:
    started, _ = spied(monkeypatch)
    task = asyncio.create_task(worker.inspect('notes.txt', b'text'))
    while not started:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert started[0].returncode is not None


async def test_two_files_at_once_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    _, running = spied(monkeypatch)
    files = [(f'n{number}.txt', f'note {number}'.encode()) for number in range(5)]
    inspected = await asyncio.gather(*(worker.inspect(name, data) for name, data in files))
    assert [i.text for i in inspected] == [f'note {number}' for number in range(5)]
    assert max(running) == worker.AT_ONCE


async def test_a_child_that_answers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, 'executable', shutil.which('false'))
    with pytest.raises(Unreadable, match=r'^notes\.txt could not be read: it was not attached\.$'):
        await worker.inspect('notes.txt', b'text')


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='the memory limit is set where Linux has it')
def test_the_child_cannot_take_much_memory() -> None:
    code = 'from chatapp.attachments.reading import _limit_memory; _limit_memory(); bytearray(2 * 2**30)'
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 1 and 'MemoryError' in result.stderr


def test_the_parsers_never_load_in_the_server() -> None:
    code = 'import sys, chatapp.app; print(sorted({"PIL", "pypdf"} & set(sys.modules)))'
    assert subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout == '[]\n'

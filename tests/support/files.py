"""Files to attach, made in the test: a PDF with real text (its xref table computed), images made with Pillow."""

from __future__ import annotations

import io

from PIL import Image


def made_pdf(content: bytes | None) -> bytes:
    """A one-page PDF, its xref table pointing at each object; the page has no content stream if `content` is None."""
    page = b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >>'
    objects = [b'<< /Type /Catalog /Pages 2 0 R >>', b'<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
               page + (b' /Contents 5 0 R >>' if content is not None else b' >>'),
               b'<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>']
    if content is not None:
        objects.append(b'<< /Length %d >>\nstream\n%s\nendstream' % (len(content), content))
    pdf, offsets = b'%PDF-1.4\n', []
    for number, body in enumerate(objects, 1):
        offsets.append(len(pdf))
        pdf += b'%d 0 obj\n%s\nendobj\n' % (number, body)
    table = b'xref\n0 %d\n0000000000 65535 f \n' % (len(objects) + 1)
    table += b''.join(b'%010d 00000 n \n' % offset for offset in offsets)
    trailer = b'trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n' % (len(objects) + 1, len(pdf))
    return pdf + table + trailer


HELLO_PDF = made_pdf(b'BT /F1 24 Tf 72 720 Td (Hello PDF) Tj ET')


def made_image(image_format: str, size: tuple[int, int] = (640, 480), mode: str = 'RGB', **options: object) -> bytes:
    image = Image.linear_gradient('L').resize(size).convert(mode)
    if mode == 'RGBA':
        image.putalpha(Image.linear_gradient('L').resize(size))  # see-through at the top
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()

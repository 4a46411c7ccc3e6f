"""Receiving one uploaded audio file: streamed to a temp file, under the size limit.

The multipart body is parsed as it arrives (``python_multipart``), so a file larger
than the limit is refused once the limit is passed, not after all of it has been read.
The file goes to a temp file of the system's temp folder (``TMPDIR``) with a name made
here; the client's file name is only reported (its last path component), never used as
a path. Whatever happens (a parse error, a too-large file, a client that disconnects
mid-upload), the temp file is removed before :func:`receive_upload` raises, and the
caller removes it after use with :meth:`Upload.remove`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
from collections.abc import AsyncIterator, Mapping

from tfgenre.webapp.limits import ServeLimits

#: Prefix of every temp file an upload is written to.
TEMP_PREFIX = "tfgenre-upload-"
#: At most this many form fields, each of at most this many bytes.
MAX_FIELDS = 16
MAX_FIELD_BYTES = 1024
#: After refusing a too-large upload, read and drop at most this much more of the body,
#: so that an ordinary client still gets the 413 answer rather than a reset connection.
DRAIN_BYTES = 8 * 1024 * 1024


class UploadError(Exception):
    """A request the API refuses: HTTP ``status``, a short ``code`` and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def too_large(limits: ServeLimits) -> UploadError:
    """The 413 error, naming the limit."""
    mb = limits.max_upload_bytes / (1024 * 1024)
    return UploadError(
        413,
        "upload_too_large",
        f"the upload is larger than the limit of {mb:g} MB "
        f"({limits.max_upload_bytes} bytes; the server's --max-upload-mb)",
    )


def client_file_name(raw: str) -> str:
    r"""The last path component of a client's file name, safe to echo (never a path).

    ``"../../etc/passwd.wav"`` -> ``"passwd.wav"``; ``"C:\music\a.mp3"`` -> ``"a.mp3"``;
    an empty name, ``.`` or ``..`` -> ``"upload"``. Control characters are dropped and
    the name is cut to 200 characters.
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:200].strip()
    return name if name not in ("", ".", "..") else "upload"


def _suffix(name: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    return ext if re.fullmatch(r"\.[a-z0-9]{1,5}", ext) else ""


@dataclasses.dataclass
class Upload:
    """A received upload.

    Attributes:
        path: The temp file holding the file's bytes (made here, removed by :meth:`remove`).
        filename: The client's file name, last component only (see :func:`client_file_name`).
        size: Bytes of the file.
        fields: The other form fields, ``{name: text}``.
    """

    path: str
    filename: str
    size: int
    fields: dict[str, str]

    def remove(self) -> None:
        """Deletes the temp file (no error when it is already gone)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class _Parser:
    """python_multipart callbacks that write the one file part to a temp file."""

    def __init__(self, limits: ServeLimits, file_field: str) -> None:
        self.limits = limits
        self.file_field = file_field
        self.fields: dict[str, str] = {}
        self.path: str | None = None
        self.filename = ""
        self.size = 0
        self._fd: int | None = None
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name = ""
        self._is_file = False
        self._data = bytearray()
        self.error: UploadError | None = None

    # ---------------------------------------------------------------- callbacks

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._data = bytearray()
        self._is_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise UploadError(400, "bad_request", "a form part has no name")
        self._name = options[b"name"].decode("utf-8", "replace")
        self._is_file = b"filename" in options
        if not self._is_file:
            if len(self.fields) >= MAX_FIELDS:
                raise UploadError(400, "bad_request", f"more than {MAX_FIELDS} form fields")
            return
        if self._name != self.file_field:
            raise UploadError(
                400, "bad_field", f"the file must be sent as the form field {self.file_field!r}"
            )
        if self.path is not None:
            raise UploadError(400, "bad_field", "one file per request")
        self.filename = client_file_name(options[b"filename"].decode("utf-8", "replace"))
        self._fd, self.path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=_suffix(self.filename))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._is_file:
            if len(self._data) + len(chunk) > MAX_FIELD_BYTES:
                raise UploadError(
                    400,
                    "bad_field",
                    f"form field {self._name!r} is longer than {MAX_FIELD_BYTES} bytes",
                )
            self._data.extend(chunk)
            return
        self.size += len(chunk)
        if self.size > self.limits.max_upload_bytes:
            raise too_large(self.limits)
        assert self._fd is not None
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]

    def on_part_end(self) -> None:
        if self._is_file:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        else:
            self.fields[self._name] = self._data.decode("utf-8", "replace")

    # ---------------------------------------------------------------- cleanup

    def discard(self) -> None:
        """Closes and removes the temp file."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


async def receive_upload(
    headers: Mapping[str, str],
    stream: AsyncIterator[bytes],
    limits: ServeLimits,
    *,
    file_field: str = "file",
) -> Upload:
    """Reads a ``multipart/form-data`` body with one file, under ``limits``.

    Args:
        headers: The request headers (lower-case names).
        stream: The body, chunk by chunk (``Request.stream()``).
        limits: The size limit (``max_upload_bytes``; the whole body may exceed it by
            the form's framing only).
        file_field: The form field of the file.

    Returns:
        The upload; the caller removes its temp file with :meth:`Upload.remove`.

    Raises:
        UploadError: 400 for a body that is not a form with one file, 413 for a file
            over the limit. Nothing is left on disk.
        Exception: whatever ``stream`` raises (a client that disconnects); nothing is
            left on disk either.
    """
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    content_type, params = parse_options_header(headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(
            400, "bad_request", "the body must be multipart/form-data with a 'file' field"
        )
    length = headers.get("content-length")
    parser = _Parser(limits, file_field)
    callbacks = {
        name: getattr(parser, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    multipart = MultipartParser(params[b"boundary"], callbacks)
    received = 0
    try:
        if length is not None and length.isdigit() and int(length) > limits.max_body_bytes:
            raise too_large(limits)
        async for chunk in stream:
            received += len(chunk)
            if received > limits.max_body_bytes:
                raise too_large(limits)
            multipart.write(chunk)
        multipart.finalize()
    except UploadError as err:
        parser.discard()
        if err.status == 413:
            await _drain(stream)
        raise
    except FormParserError as err:
        parser.discard()
        raise UploadError(400, "bad_request", f"the multipart body is malformed ({err})") from err
    except BaseException:
        parser.discard()
        raise
    if parser._fd is not None:  # the body ended inside the file part
        parser.discard()
        raise UploadError(400, "bad_request", "the multipart body ended before the file did")
    if parser.path is None:
        raise UploadError(400, "missing_file", "the form has no 'file' field with a file")
    if parser.size == 0:
        parser.discard()
        raise UploadError(400, "undecodable", f"{parser.filename}: the file is empty")
    return Upload(parser.path, parser.filename, parser.size, parser.fields)


async def _drain(stream: AsyncIterator[bytes]) -> None:
    """Reads and drops at most :data:`DRAIN_BYTES` more of the body (nothing stored)."""
    dropped = 0
    with contextlib.suppress(Exception):
        async for chunk in stream:
            dropped += len(chunk)
            if dropped > DRAIN_BYTES:
                return

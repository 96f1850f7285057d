"""Uploads past their limit are counted, never stored.

Django parses a multipart body before any view runs (the CSRF check reads the form), so
a form that checks a file's size refuses it only after the whole file has been written to
a temporary file. This handler comes first in FILE_UPLOAD_HANDLERS: once a file passes
EVAL_UPLOAD_MAX_BYTES (the evaluation data set is the only upload), it passes no more of
it to the handlers that store it, and the form receives a `RefusedUpload` that carries
only the file's name and full size, which the form's size check then refuses by name."""

from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler


class RefusedUpload(UploadedFile[bytes]):
    """A file that was over the limit: its name and size, and no content."""

    def __init__(self, *, name: str, content_type: str, size: int) -> None:
        super().__init__(file=None, name=name, content_type=content_type, size=size)

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return b""


class BoundedUploadHandler(FileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.refused = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        # None stops the chunk here: the storing handlers after this one never see it.
        self.refused = self.refused or start + len(raw_data) > settings.EVAL_UPLOAD_MAX_BYTES
        return None if self.refused else raw_data

    def file_complete(self, file_size: int) -> UploadedFile[bytes] | None:
        if not self.refused:
            return None  # the next handler's file, as Django would have made it
        # new_file() set both before any chunk arrived; "" only satisfies their declared type.
        return RefusedUpload(name=self.file_name or "", content_type=self.content_type or "", size=file_size)

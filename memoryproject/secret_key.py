"""The secret key a server uses when the operator set none: made once, kept under var/.

A fixed default key in the source would be public, and it keys the erasure receipts'
digests and the admin's sessions. So the first process to start writes a random key to
`var/secret-key` (mode 600) and every later process, gunicorn's workers and the Dramatiq
worker included, reads the same one: it survives restarts, and a multi-host deployment
sets SECRET_KEY itself."""

import contextlib
import os
import secrets
import tempfile
from pathlib import Path


def stored_secret_key(path: Path) -> str:
    """Read the key at `path`, or make it there; two processes starting together agree,
    because the key is written to a temporary file first and linked into place once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600, a name of its own
        with os.fdopen(handle, "w") as out:
            out.write(secrets.token_urlsafe(50))
        with contextlib.suppress(FileExistsError):  # another process linked its key first
            os.link(draft, path)
        os.unlink(draft)
    return path.read_text().strip()

"""gunicorn's hooks for this server. bin/serve and the tests' deployments pass this file
(`--config memoryproject/gunicorn_conf.py`); their command-line flags (bind, workers,
threads) still apply. Serving the API with gunicorn without it skips the loopback
check below: pass it."""

import os
from typing import Any


def when_ready(server: Any) -> None:  # gunicorn's Arbiter (gunicorn ships no types)
    """In the master, with every listener bound and before any worker starts (so nothing
    has been served): AUTH_MODE=disabled on anything but loopback stops gunicorn."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")
    from django.core.exceptions import ImproperlyConfigured

    from memoryproject.bind_check import refuse_open_bind

    # With --reuse-port the workers bind their own sockets: the configured addresses then.
    bound = [listener.sock.getsockname() for listener in server.LISTENERS] or server.cfg.address
    try:
        refuse_open_bind(bound, server="gunicorn")
    except ImproperlyConfigured as exc:
        server.halt(reason=str(exc), exit_status=1)

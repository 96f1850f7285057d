import logging
import os
import threading

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")
application = get_wsgi_application()


def _warm_up() -> None:
    """Build the token table and load the embedding model beside the first requests, so
    the first PUT or search of each served process does not wait for them."""
    from memory import embeddings, tokens

    try:
        tokens.encoding()
        embeddings.embed_texts(["warm-up"])
    except Exception:  # the request that needs them will raise the same error, visibly
        logging.getLogger(__name__).exception("warm-up failed")


# Not a daemon: a worker told to stop while the model loads waits for it at exit. A daemon
# thread still inside ONNX Runtime's C++ when the interpreter finalises aborts the process
# ("terminate called without an active exception", gunicorn: "Worker was sent SIGABRT!").
threading.Thread(target=_warm_up, name="warm-up").start()

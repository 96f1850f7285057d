"""A served process told to stop while its warm-up thread loads the model exits cleanly.

A daemon warm-up thread still inside ONNX Runtime's C++ when the interpreter finalised
aborted the process ("terminate called without an active exception"; gunicorn logged
"Worker was sent SIGABRT!"). Python joins a non-daemon thread before finalising, so the
exit waits for the load to finish instead."""

import subprocess

from tests.helpers import BASE_DIR, PYTHON, child_env

EXIT_DURING_WARM_UP = (
    "import threading, memoryproject.wsgi; "
    "[warm_up] = [t for t in threading.enumerate() if t.name == 'warm-up']; "
    "print('daemon' if warm_up.daemon else 'joined at exit')"
)


def test_the_warm_up_thread_is_joined_at_exit_so_the_process_never_aborts():
    out = subprocess.run(
        [PYTHON, "-c", EXIT_DURING_WARM_UP], cwd=BASE_DIR, env=child_env(), capture_output=True, text=True
    )
    assert out.stdout.strip() == "joined at exit"
    assert "terminate called" not in out.stderr
    assert out.returncode == 0, out.stderr

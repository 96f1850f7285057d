"""The secret key and the HTTPS settings, read by a fresh process from its environment
exactly as a served process reads them."""

import json
import os
import subprocess
import threading

import pytest

from memoryproject.secret_key import stored_secret_key
from tests.helpers import BASE_DIR, PYTHON

SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.SECRET_KEY, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
    "s.SECURE_HSTS_SECONDS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None)]))"
)


def settings_read_with(**env: str) -> list:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "HTTPS", "HTTPS_BEHIND_PROXY"}}
    clean["DJANGO_SETTINGS_MODULE"] = "memoryproject.settings"
    out = subprocess.run([PYTHON, "-c", SHOW], cwd=BASE_DIR, env={**clean, **env}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_without_secret_key_a_process_uses_the_one_stored_under_var_not_a_default_in_the_source():
    key, *_ = settings_read_with()
    assert key == (BASE_DIR / "var/secret-key").read_text().strip()
    assert len(key) >= 50 and "insecure" not in key
    assert (BASE_DIR / "var/secret-key").stat().st_mode & 0o077 == 0  # mode 600
    assert settings_read_with()[0] == key  # the next process reads the same one


def test_an_operators_secret_key_wins_over_the_stored_one():
    assert settings_read_with(SECRET_KEY="operator-chosen")[0] == "operator-chosen"


def test_processes_starting_together_make_one_key(tmp_path):
    path = tmp_path / "secret-key"
    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.append(stored_secret_key(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret-key"]  # no draft left behind


def test_plain_http_by_default_no_secure_cookies_no_hsts():
    assert settings_read_with()[1:] == [False, False, 0, None]


def test_https_makes_cookies_secure_and_turns_hsts_on():
    assert settings_read_with(HTTPS="true")[1:] == [True, True, 31536000, None]
    assert settings_read_with(HTTPS="true", HSTS_SECONDS="600", HTTPS_BEHIND_PROXY="true")[1:] == [
        True,
        True,
        600,
        ["HTTP_X_FORWARDED_PROTO", "https"],
    ]


@pytest.mark.django_db
def test_an_https_response_carries_hsts_when_https_is_on(client, settings):
    settings.SECURE_HSTS_SECONDS = 600  # read when the client's handler loads its middleware
    assert client.get("/v1/health", secure=True)["Strict-Transport-Security"] == "max-age=600"
    assert "Strict-Transport-Security" not in client.get("/v1/health")  # never over plain HTTP

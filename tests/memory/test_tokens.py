"""memory.tokens: cl100k_base counting from LiteLLM's packaged BPE file, with no network."""

import json
import subprocess
import textwrap

from memory import tokens
from tests.helpers import BASE_DIR, PYTHON, child_env

OFFLINE_SCRIPT = textwrap.dedent("""
    import json, sys
    import django
    django.setup()
    import tiktoken
    try:
        tiktoken.get_encoding("cl100k_base")
        plain_tiktoken = "downloaded"
    except Exception as exc:
        plain_tiktoken = type(exc).__name__
    from memory import tokens
    print(json.dumps({
        "plain_tiktoken": plain_tiktoken,
        "ids": tokens.encoding().encode_ordinary("hello world"),
        "message": tokens.count_message("user", "I want to fly to Lisbon"),
        "litellm_imported": "litellm" in sys.modules,
    }))
""")


def test_token_counting_works_with_the_network_absent(tmp_path):
    dead_proxy = "http://127.0.0.1:9"  # the discard port: nothing listens
    env = child_env(
        HTTPS_PROXY=dead_proxy,
        HTTP_PROXY=dead_proxy,
        https_proxy=dead_proxy,
        http_proxy=dead_proxy,
        TIKTOKEN_CACHE_DIR=str(tmp_path / "empty-cache"),
    )
    env.pop("NO_PROXY", None), env.pop("no_proxy", None)
    result = subprocess.run(
        [PYTHON, "-c", OFFLINE_SCRIPT], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["plain_tiktoken"] != "downloaded"  # the network really is absent for tiktoken
    assert report["ids"] == [15339, 1917]  # cl100k_base's ids for "hello" and " world"
    assert report["message"] == tokens.count("user: I want to fly to Lisbon") == 8
    assert report["litellm_imported"] is False
    assert not (tmp_path / "empty-cache").exists()  # nothing was downloaded or cached

"""A stand-in identity provider for JWT mode (memory.api.jwt_auth): an RSA key pair made
here, its JWKS served by a local HTTP server, and tokens signed with it. The REST tests
(tests/memory/api/test_auth_jwt.py) and the MCP ones (tests/mcp/test_auth_jwt.py) share it
through the `signing_key` and `jwks` fixtures in tests/conftest.py."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

ISSUER, AUDIENCE = "https://idp.example.test/", "memory-server"


def _jwk(private_key, kid: str) -> dict:
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key())), "kid": kid, "alg": "RS256"}


@contextmanager
def jwks_served(signing_key) -> Iterator[str]:
    """A JWKS endpoint holding `signing_key`'s public half as "k1", on a free local port; yields its URL."""
    document = json.dumps({"keys": [_jwk(signing_key, "k1")]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def token(signing_key, kid="k1", **claims) -> str:
    """A valid token of tenant acme's agent-7 for namespace support; `claims` change or (None) drop claims."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "agent-7", "exp": now + 300, "nbf": now - 5}
    payload.update(tenant="acme", namespaces=["support"])
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, signing_key, algorithm="RS256", headers={"kid": kid})

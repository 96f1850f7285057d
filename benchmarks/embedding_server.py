"""An OpenAI-compatible embedding endpoint (`POST /v1/embeddings`) over this project's
local model, for the reference server in `make bench`: the same model and runtime as
ours, with concurrent single-text requests micro-batched the same way.

    PYTHONPATH=. .venv/bin/python benchmarks/embedding_server.py --port 8099
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")

import django  # noqa: E402

django.setup()

from memory import embeddings  # noqa: E402


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else list(texts)
        if len(texts) == 1:
            vectors = [embeddings.query_batcher().submit(texts[0])]
        else:
            vectors = list(embeddings.embed_texts(texts))
        reply = {
            "object": "list",
            "model": body.get("model", "all-MiniLM-L6-v2"),
            "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }
        payload = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    embeddings.embed_texts(["warm up"])
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

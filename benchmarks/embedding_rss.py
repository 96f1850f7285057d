"""Resident memory of a process that embeds like the worker: batches of varying size
and text length from several threads, as promotion and the sweep send them.

    .venv/bin/python benchmarks/embedding_rss.py --batches 3000 --threads 4
    MALLOC_ARENA_MAX=2 .venv/bin/python benchmarks/embedding_rss.py ...

Prints RSS after the model loads, then every --every batches. Used to tell torch's
allocator caching per batch shape from a leak (RELIABILITY.md, "Soak")."""

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    import django

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--fixed-shape", action="store_true", help="always 8 texts of 64 words")
    args = parser.parse_args()
    django.setup()
    from memory import embeddings

    embeddings.embed_texts(["warm up"])
    print(f"model loaded: rss {rss_mb():.0f} MB", flush=True)
    words = [
        "alice",
        "keeps",
        "bees",
        "in",
        "the",
        "garden",
        "and",
        "bob",
        "repairs",
        "old",
        "bicycles",
        "near",
        "the",
        "harbour",
        "every",
        "sunday",
    ]
    done, lock, started = [0], threading.Lock(), time.monotonic()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            with lock:
                if done[0] >= args.batches:
                    return
                done[0] += 1
                n = done[0]
            size, length = (8, 64) if args.fixed_shape else (rng.randint(1, 20), rng.randint(3, 200))
            embeddings.embed_texts([" ".join(rng.choices(words, k=length)) for _ in range(size)])
            if n % args.every == 0:
                print(f"{n} batches, {time.monotonic() - started:.0f} s: rss {rss_mb():.0f} MB", flush=True)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"end: rss {rss_mb():.0f} MB", flush=True)


if __name__ == "__main__":
    main()

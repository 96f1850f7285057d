"""CPU time of the dedup rule (`sameness`) on adversarial pairs of long texts.

Each pair is one phrase repeated up to a length, then a different last word ("Alpha" /
"Beta"), so the two texts embed alike (the model truncates) and dedup compares them with
the rule. The phrases are the ones that made the rule quadratic (issue 20): "not " (the
negation pattern's "not ... anymore" span), "In May " (a sentence-start look-back per
month name), "a hundred " (a look-back per "hundred"), plus "hundred " (a scale word that
multiplies the number being read). Prints CPU seconds per call, best of `--repeat`.

    .venv/bin/python benchmarks/dedup_cost.py                    # the module in the tree
    .venv/bin/python benchmarks/dedup_cost.py --module OLD.py    # another version of it

`--module` loads a copy of `memory/services/long_term/sameness.py` from a file (for a
before/after figure: `git show REV:memory/services/long_term/sameness.py > /tmp/old.py`).
A call that would take longer than `--give-up` seconds at the previous size is skipped.
"""

import argparse
import importlib.util
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

RULE = BASE_DIR / "memory" / "services" / "long_term" / "sameness.py"
PHRASES = ("not ", "In May ", "a hundred ", "hundred ")
SIZES = (16_000, 32_000, 100_000)


def load_rule(path: Path):
    """The module at `path`, loaded on its own (no Django needed: the rule is plain text work)."""
    spec = importlib.util.spec_from_file_location("sameness_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pair(phrase: str, size: int) -> tuple[str, str]:
    body = phrase * (size // len(phrase))
    return body + "Alpha", body + "Beta"


def cpu_seconds(function, a: str, b: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        function(a, b)
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--module", type=Path, default=RULE, help="a sameness.py to measure instead")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--give-up", type=float, default=120.0, help="skip larger sizes past this many seconds")
    args = parser.parse_args()
    rule = load_rule(args.module)
    print(f"module: {args.module}")
    print("| phrase | characters per text | CPU seconds per pair |\n|---|---:|---:|")
    for phrase in PHRASES:
        previous = 0.0
        for size in SIZES:
            if previous > args.give_up / 10:  # the next size costs ~3-10x more
                print(f"| {phrase!r} | {size:,} | skipped |")
                continue
            a, b = pair(phrase, size)
            previous = cpu_seconds(rule.differing_details, a, b, args.repeat if previous < 1 else 1)
            print(f"| {phrase!r} | {size:,} | {previous:.4f} |", flush=True)


if __name__ == "__main__":
    main()

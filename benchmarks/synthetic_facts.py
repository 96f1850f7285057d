"""Hit@10 per search mode on short synthetic facts: template facts about many users, one
natural question per fact, every search filtered on the fact's user and namespace.

The generator is deterministic (seeded) and importable: `facts(n, seed=...)` gives the
same `Fact`s on every machine. Each (user, template, key) appears once, so every
question has exactly one right answer; a question is phrased from its fact but not
copied (some templates ask with other words than the fact uses, as people do).

Calls the services and selectors in-process (memories_create / memories_search, the
code the HTTP routes run), against the Redis and database the environment names:

    .venv/bin/python -m memoryproject.localredis exec --port 6488 -- env \\
        DATABASE_URL=sqlite:///var/synthetic.sqlite3 .venv/bin/python benchmarks/synthetic_facts.py

`--facts 2000` for a quick run, `--deduplicate` to load as the client's default does,
`--variants` to make part of the load near-variants of each other: the same sentence with
a phrase changed or a word inserted ("Ivy likes hotels near the river / near the main
train station when visiting Kyoto.", "Hana plays tennis / table tennis on Thursday
evenings."), distinct facts that embed within the dedup distance (`variant_facts`).
"""

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
NAMESPACE_PREFIX = "synthetic:"
MODES = ("semantic", "keyword", "hybrid")
K = 10

NAMES = [
    "Clara",
    "Rosa",
    "Felix",
    "Omar",
    "Hana",
    "Lukas",
    "Priya",
    "Mateo",
    "Ingrid",
    "Tariq",
    "Elena",
    "Jonas",
    "Aiko",
    "Bruno",
    "Leila",
    "Viktor",
    "Nadia",
    "Samuel",
    "Freya",
    "Diego",
    "Mei",
    "Anton",
    "Zara",
    "Emil",
    "Sofia",
    "Rahul",
    "Greta",
    "Pablo",
    "Yuki",
    "Hugo",
    "Amara",
    "Nils",
    "Chloe",
    "Idris",
    "Paula",
    "Kenji",
    "Lena",
    "Marco",
    "Esther",
    "Kofi",
    "Ines",
    "Tobias",
    "Maya",
    "Arjun",
    "Selma",
    "Oscar",
    "Noor",
    "Pieter",
    "Lucia",
    "Dmitri",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
CITIES = [
    "Lisbon",
    "Oslo",
    "Nairobi",
    "Kyoto",
    "Denver",
    "Krakow",
    "Lima",
    "Hanoi",
    "Dublin",
    "Seville",
    "Montreal",
    "Tallinn",
    "Porto",
    "Cairo",
    "Melbourne",
]
FIRST = [
    "Alex",
    "Bea",
    "Carl",
    "Dora",
    "Eli",
    "Fay",
    "Gus",
    "Hal",
    "Ivy",
    "Joe",
    "Kit",
    "Lou",
    "Max",
    "Ned",
    "Ola",
    "Pam",
    "Quin",
    "Rex",
    "Sue",
    "Ted",
]
TIMES = ("7:15", "8:30", "9:45", "10:00", "11:20", "13:10", "14:30", "15:45", "16:00", "17:30", "18:15", "19:40")
OPTIONS = [
    "tea",
    "green smoothies",
    "jazz",
    "the mountains",
    "window seats",
    "oat milk",
    "early meetings",
    "paper notebooks",
]
OPTIONS += ["silence", "the beach", "aisle seats", "cold brew", "podcasts", "board games", "trains", "spicy food"]


def _pick(rng, values):
    return rng.choice(values)


# (kind, keys, fact template, question templates); {name} and {key} are filled for every
# fact, the other slots by VALUES. Questions name the key, never the value.
TEMPLATES = (
    (
        "deadline",
        "mobile app redesign|quarterly report|website migration|budget review|grant proposal|security audit|"
        "onboarding guide|product launch|data pipeline|marketing plan|annual review|customer survey",
        "The {key} deadline for {name} is {month} {day}.",
        ("When is the {key} deadline for {name}?", "By what date must {name} finish the {ask}?"),
    ),
    (
        "expiry",
        "passport|driving licence|gym membership|apartment lease|car insurance|work visa|library card|"
        "credit card|health insurance|phone contract",
        "{name}'s {key} expires in {month} {year}.",
        ("When does {name}'s {key} expire?", "Until when is {name}'s {ask} valid?"),
    ),
    (
        "preference",
        "breakfast|music while working|holidays|travel|weekend mornings|team lunches|reading|commuting|"
        "birthday dinners|long flights",
        "{name} prefers {option} for {key}.",
        ("What does {name} prefer for {key}?", "What does {name} like best for {ask}?"),
    ),
    (
        "relation",
        "sister|brother|manager|dentist|landlord|neighbour|cat|dog|best friend|cousin|mentor|accountant",
        "{name}'s {key} is called {first}.",
        ("What is the name of {name}'s {key}?", "Who is {name}'s {ask}?"),
    ),
    (
        "visit",
        "|".join(CITIES),
        "{name} visited {key} in {month} {year}.",
        ("When did {name} visit {key}?", "When was {name}'s trip to {ask}?"),
    ),
    (
        "price",
        "new laptop|bicycle|sofa|concert tickets|winter coat|espresso machine|camera|desk chair|headphones|"
        "hiking boots|tennis racket|suitcase",
        "{name} paid {amount} dollars for the {key}.",
        ("How much did {name} pay for the {key}?", "What did the {ask} cost {name}?"),
    ),
    (
        "number",
        "bank account|frequent flyer|employee badge|insurance policy|loyalty card|parking permit|tax id|"
        "customer account",
        "{name}'s {key} number ends in {digits}.",
        ("What does {name}'s {key} number end in?", "What are the last digits of {name}'s {ask} number?"),
    ),
    (
        "appointment",
        "dentist|doctor|haircut|physiotherapy|vet|tax advisor|eye test|bank|optician|massage",
        "{name} has a {key} appointment on {weekday} at {time}.",
        ("When is {name}'s {key} appointment?", "What day and time is {name} seeing the {ask}?"),
    ),
    (
        "favourite",
        "colour|film|book|dish|sport|band|season|animal|board game|painter|flower|dessert",
        "{name}'s favourite {key} is {option}.",
        ("What is {name}'s favourite {key}?", "Which {ask} does {name} love most?"),
    ),
    (
        "language",
        "Spanish|German|Japanese|French|Arabic|Portuguese|Italian|Mandarin|Swahili|Dutch",
        "{name} speaks {key} at a {level} level.",
        ("How well does {name} speak {key}?", "What is {name}'s level in {ask}?"),
    ),
    (
        "spare_key",
        "house|car|office|bike lock|garage|mailbox|storage unit|garden shed",
        "{name} keeps the spare {key} key {place}.",
        ("Where does {name} keep the spare {key} key?", "Where can the spare {ask} key of {name} be found?"),
    ),
    (
        "flight",
        "|".join(CITIES),
        "{name}'s flight to {key} leaves at {time} on {month} {day}.",
        ("When does {name}'s flight to {key} leave?", "What time is {name} flying to {ask}?"),
    ),
    (
        "skill",
        "guitar|piano|pottery|chess|salsa|climbing|sailing|knitting|photography|coding|yoga|swimming",
        "{name} started learning {key} in {year}.",
        ("When did {name} start learning {key}?", "Since what year has {name} been taking up {ask}?"),
    ),
    (
        "wifi",
        "home|office|cabin|studio|parents' house|workshop",
        "The wifi password at {name}'s {key} is {word}{digits}.",
        ("What is the wifi password at {name}'s {key}?", "How does {name} log on to the internet at the {ask}?"),
    ),
    (
        "weekly",
        "|".join(WEEKDAYS),
        "Every {key} {name} runs {small} kilometres.",
        ("How far does {name} run on {key}s?", "What distance does {name} cover each {ask}?"),
    ),
    (
        "owes",
        "|".join(FIRST[:12]),
        "{name} owes {key} {amount} euros for the shared rent.",
        ("How much does {name} owe {key}?", "What amount is {name} due to pay back to {ask}?"),
    ),
    (
        "allergy",
        "peanuts|shellfish|pollen|cats|penicillin|dust|gluten|eggs|bee stings|latex",
        "{name} is {severity} allergic to {key}.",
        ("Is {name} allergic to {key}?", "How does {name} react to {ask}?"),
    ),
    (
        "birthday",
        "mother|father|grandmother|partner|daughter|son|uncle|aunt|godson|niece",
        "{name}'s {key} has a birthday on {month} {day}.",
        ("When is the birthday of {name}'s {key}?", "On what date does {name}'s {ask} celebrate turning a year older?"),
    ),
    (
        "address",
        "office|gym|favourite bakery|storage unit|school|pharmacy|climbing hall|dance studio",
        "{name}'s {key} is at {small} {street} Street.",
        ("Where is {name}'s {key}?", "What is the address of {name}'s {ask}?"),
    ),
    (
        "count",
        "houseplants|bicycles|cousins|monitors|guitars|siblings|pairs of running shoes|cookbooks",
        "{name} has {small} {key}.",
        ("How many {key} does {name} have?", "What number of {ask} does {name} own?"),
    ),
)
# Other words for a key, as a person asking might put it (the second phrasing uses them).
ALIASES = {
    "mobile app redesign": "new phone app design",
    "quarterly report": "Q3 figures write-up",
    "website migration": "move of the web site",
    "budget review": "spending check",
    "grant proposal": "funding application",
    "security audit": "safety inspection of the systems",
    "product launch": "release of the product",
    "annual review": "yearly evaluation",
    "customer survey": "client questionnaire",
    "driving licence": "driver's license",
    "gym membership": "fitness club subscription",
    "apartment lease": "flat rental contract",
    "work visa": "employment permit",
    "phone contract": "mobile plan",
    "holidays": "vacations",
    "commuting": "the trip to work",
    "long flights": "long-haul air travel",
    "manager": "boss",
    "neighbour": "next-door neighbor",
    "best friend": "closest friend",
    "accountant": "bookkeeper",
    "new laptop": "notebook computer",
    "bicycle": "bike",
    "sofa": "couch",
    "winter coat": "warm jacket",
    "espresso machine": "coffee maker",
    "headphones": "earphones",
    "hiking boots": "walking shoes",
    "suitcase": "luggage",
    "frequent flyer": "airline miles",
    "employee badge": "staff ID",
    "tax id": "taxpayer",
    "haircut": "hairdresser",
    "physiotherapy": "physio",
    "vet": "veterinarian",
    "eye test": "vision check",
    "film": "movie",
    "dish": "meal",
    "band": "music group",
    "colour": "color",
    "dessert": "sweet",
    "mailbox": "letterbox",
    "garden shed": "tool shed",
    "coding": "programming",
    "climbing": "bouldering",
    "knitting": "needlework",
    "houseplants": "indoor plants",
    "monitors": "computer screens",
    "siblings": "brothers and sisters",
    "cookbooks": "recipe books",
    "penicillin": "antibiotics",
    "bee stings": "wasp and bee stings",
    "mother": "mum",
    "father": "dad",
    "partner": "spouse",
    "favourite bakery": "usual bread shop",
    "pharmacy": "chemist",
    "dance studio": "dance school",
    "parents' house": "parents' place",
}
VALUES = {
    "month": lambda rng: _pick(rng, MONTHS),
    "day": lambda rng: str(rng.randint(1, 28)),
    "year": lambda rng: str(rng.randint(2024, 2032)),
    "option": lambda rng: _pick(rng, OPTIONS),
    "first": lambda rng: _pick(rng, FIRST),
    "amount": lambda rng: str(rng.randint(12, 2400)),
    "digits": lambda rng: f"{rng.randint(0, 9999):04d}",
    "weekday": lambda rng: _pick(rng, WEEKDAYS),
    "time": lambda rng: _pick(rng, TIMES),
    "level": lambda rng: _pick(rng, ("beginner", "intermediate", "fluent", "native", "basic conversational")),
    "place": lambda rng: _pick(
        rng, ("under the doormat", "in the blue drawer", "with the neighbour", "in the glovebox", "behind the clock")
    ),
    "word": lambda rng: _pick(rng, ("sunflower", "harbour", "maple", "comet", "pebble", "violet", "falcon")),
    "small": lambda rng: str(rng.randint(2, 19)),
    "severity": lambda rng: _pick(rng, ("mildly", "severely", "slightly", "very")),
    "street": lambda rng: _pick(rng, ("Oak", "Mill", "Station", "Church", "Harbour", "Elm", "Bridge", "King")),
}


@dataclass(frozen=True)
class Fact:
    id: str
    user_id: str
    namespace: str
    text: str
    question: str
    kind: str  # the template
    key: str  # what the question asks about; (user_id, kind, key) is unique


def users(count: int = 50, namespaces: int = 3) -> list[tuple[str, str, str]]:
    """(user_id, namespace, first name) of each user; user i is in namespace i % namespaces."""
    return [(f"user-{i:03d}", f"{NAMESPACE_PREFIX}ns{i % namespaces}", NAMES[i % len(NAMES)]) for i in range(count)]


def facts(n: int = 10_000, *, seed: int = 14, user_count: int = 50, namespaces: int = 3) -> list[Fact]:
    """n distinct facts spread evenly over the users, each with its own question."""
    rng = random.Random(seed)
    people = users(user_count, namespaces)
    slots = [(kind, key) for kind, keys, _, _ in TEMPLATES for key in keys.split("|")]
    if n > len(slots) * len(people):
        raise ValueError(f"at most {len(slots) * len(people)} distinct facts for {len(people)} users")
    templates = {kind: (fact, questions) for kind, _, fact, questions in TEMPLATES}
    per_user = {user_id: rng.sample(slots, len(slots)) for user_id, _, _ in people}
    out = []
    for i in range(n):
        user_id, namespace, name = people[i % len(people)]
        kind, key = per_user[user_id][i // len(people)]
        fact, questions = templates[kind]
        slots_needed = {name_: fill(rng) for name_, fill in VALUES.items()}
        text = fact.format(name=name, key=key, **slots_needed)
        question = rng.choice(questions).format(name=name, key=key, ask=ALIASES.get(key, key))
        out.append(Fact(f"syn-{i:05d}", user_id, namespace, text[0].upper() + text[1:], question, kind, key))
    return out


# Near-variants (issue 20): per user and slot, every phrase of a family is its own fact.
VARIANT_FAMILIES = (
    (
        "hotel",
        "|".join(CITIES[:6]),
        "{name} likes hotels near {phrase} when visiting {key}.",
        "the river|the main train station|the old town|the airport|the beach",
        "Where does {name} like to stay when visiting {key}?",
    ),
    (
        "sport",
        "|".join(WEEKDAYS[:5]),
        "{name} plays {phrase} on {key} evenings.",
        "tennis|table tennis|beach volleyball|volleyball",
        "What does {name} play on {key} evenings?",
    ),
    (
        "drink",
        "morning|afternoon",
        "{name} drinks {phrase} in the {key}.",
        "tea|green tea|green tea with honey|coffee|black coffee",
        "What does {name} drink in the {key}?",
    ),
    (
        "sleeps",
        "sofa|bed",
        "{name}'s {phrase} sleeps on the {key}.",
        "cat|old cat|neighbour's cat|dog|younger dog",
        "Who sleeps on {name}'s {key}?",
    ),
)


def variant_facts(*, seed: int = 14, user_count: int = 50, namespaces: int = 3) -> list[Fact]:
    """For each user, one slot (a city, a weekday...) of every family, with all of the
    family's phrases: distinct facts that differ by a phrase or an inserted word."""
    rng = random.Random(seed)
    out = []
    for user_id, namespace, name in users(user_count, namespaces):
        for kind, keys, template, phrases, question in VARIANT_FAMILIES:
            key = rng.choice(keys.split("|"))
            for phrase in phrases.split("|"):
                text = template.format(name=name, key=key, phrase=phrase)
                fact_id = f"var-{len(out):05d}"
                out.append(Fact(fact_id, user_id, namespace, text, question.format(name=name, key=key), kind, key))
    return out


def load_set(n: int, *, seed: int, variants: bool) -> list[Fact]:
    """n facts: the template facts, or with `variants`, fewer of them plus every near-variant,
    shuffled so that variants meet both within a batch and across batches."""
    if not variants:
        return facts(n, seed=seed)
    near = variant_facts(seed=seed)
    items = facts(n - len(near), seed=seed) + near
    random.Random(seed).shuffle(items)
    return items


def load(items: list[Fact], *, deduplicate: bool, batch: int = 100) -> dict[str, str]:
    """Create the facts through memories_create; {fact id: the record id it landed in}."""
    from tqdm import tqdm

    from memory.services.long_term import memories_create

    landed, linked = {}, 0
    started = time.perf_counter()
    for start in tqdm(range(0, len(items), batch), desc="load", unit="batch"):
        chunk = items[start : start + batch]
        records = [
            {"id": f.id, "text": f.text, "user_id": f.user_id, "namespace": f.namespace, "memory_type": "semantic"}
            for f in chunk
        ]
        outcome = memories_create(actor="system:benchmark", records=records, deduplicate=deduplicate)
        for fact, result in zip(chunk, outcome.outcomes, strict=True):
            landed[fact.id] = result.id
            linked += bool(result.conflicts)
    print(f"loaded {len(items)} facts in {time.perf_counter() - started:.1f}s")
    print(f"kept apart and linked to a near record (a detail or the wording differs): {linked}")
    return landed


def query_for(fact: Fact, mode: str, *, limit: int = K):
    from memory import index
    from memory.selectors.long_term import Recency, SearchQuery

    return SearchQuery(
        text=fact.question,
        mode=mode,
        limit=limit,
        conditions=(
            index.Condition("namespace", "eq", (fact.namespace,)),
            index.Condition("user_id", "eq", (fact.user_id,)),
        ),
        recency=Recency(boost=False),
    )


def evaluate(
    items: list[Fact], landed: dict[str, str] | None = None, modes: tuple[str, ...] = MODES
) -> dict[str, float]:
    """Per mode, how many questions find their fact (or the record it merged into) in the top K."""
    from tqdm import tqdm

    from memory.selectors.long_term import memories_search

    landed = landed or {}
    hits = {}
    for mode in modes:
        found = 0
        for fact in tqdm(items, desc=mode, unit="q"):
            ids = [h.record.id for h in memories_search(query=query_for(fact, mode)).hits]
            found += landed.get(fact.id, fact.id) in ids
        hits[mode] = found
    return hits


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--facts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--deduplicate", action="store_true", help="load with deduplicate=true")
    parser.add_argument("--variants", action="store_true", help="include the near-variant facts (issue 20)")
    parser.add_argument("--skip-load", action="store_true", help="reuse the records of a previous run")
    parser.add_argument("--questions", type=int, default=None, help="ask only every n-th fact's question")
    parser.add_argument("--modes", default=",".join(MODES), help="the search modes to ask in (comma-separated)")
    args = parser.parse_args()
    setup()
    from benchmarks.benchlib import machine

    items = load_set(args.facts, seed=args.seed, variants=args.variants)
    landed = None
    if (
        args.skip_load
    ):  # as bin/serve's seed_defaults: an index of an older schema is recreated (its documents rewritten)
        from memory import index

        index.ensure_index()
        while float(index.get_index().info()["percent_indexed"]) < 1:  # RediSearch indexes them in the background
            time.sleep(0.5)
    else:
        reset()
        landed = load(items, deduplicate=args.deduplicate)
        merged = [fact for fact in items if landed[fact.id] != fact.id]
        print(f"merged into another record: {len(merged)}")
        for fact in merged[:20]:
            print(f"  {fact.text!r} -> {landed[fact.id]}")
    asked = items[:: args.questions] if args.questions else items
    hits = evaluate(asked, landed, tuple(args.modes.split(",")))
    print(
        f"\nSynthetic facts: {len(items)} loaded (seed {args.seed}, deduplicate={args.deduplicate}, "
        f"variants={args.variants}), "
        f"{len(asked)} questions, user + namespace filters, limit {K}, recency boost off"
    )
    print(f"machine: {machine()}\n")
    print("| mode | hit@10 | questions found |\n|---|---:|---:|")
    for mode, found in hits.items():
        print(f"| {mode} | {found / len(asked):.4f} | {found:,} |")


def setup():
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryproject.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def reset():
    """Drop the synthetic records and their documents (other namespaces are left alone)."""
    from memory import index
    from memory.models import MemoryRecord

    ids = list(MemoryRecord.objects.filter(namespace__startswith=NAMESPACE_PREFIX).values_list("id", flat=True))
    MemoryRecord.objects.filter(id__in=ids).delete()
    index.ensure_index()
    for start in range(0, len(ids), 1000):
        index.delete_documents(ids[start : start + 1000])


if __name__ == "__main__":
    main()

"""Debounced scheduling of promotion (working memory -> long-term memory).

`promotion_schedule` is the one call point the working-memory write path uses. It must
touch Redis only: no DB write, no LLM call, no embedding.
"""


def promotion_schedule(*, namespace: str | None, user_id: str | None, session_id: str) -> None:
    """Schedule promotion of this session after the debounce window (trailing edge).

    Filled in by the promotion issue; until then a write schedules nothing.
    """

"""The size limits of a custom prompt, from settings (see `policies.templating.PromptLimits`).

The largest input a template can be rendered with is bounded by the working-memory
limits: one session write is at most WORKING_MEMORY_MAX_BODY_BYTES, and every character
of a turn costs at least one byte of it, so `turns` rendered from one write (one
`role: text` line per turn) is never longer. `earlier_turns` and `known_memories` are
held to the same length, and every value is cut to it when rendered (turns gathered
from many writes before a run can be longer), so the bound holds whatever the session
did. The render as a whole may be at most PROMPT_MAX_CHARS.
"""

from django.conf import settings

from policies.templating import PromptLimits

# `now`: ISO 8601 in UTC, `2026-12-01T21:54:36.123456Z` at the longest.
NOW_MAX_CHARS = 32


def prompt_limits() -> PromptLimits:
    longest_input = settings.WORKING_MEMORY_MAX_BODY_BYTES
    return PromptLimits(
        max_chars=settings.PROMPT_MAX_CHARS,
        variable_chars={
            "turns": longest_input,
            "earlier_turns": longest_input,
            "known_memories": longest_input,
            "now": NOW_MAX_CHARS,
        },
    )

"""Prompt templates: only the known variables, printed or tested with `if`; everything
that reaches outside them is refused with a message naming it and its line."""

import pytest

from policies.templating import (
    PromptLimits,
    TemplateProblemsError,
    template_problems,
    template_render,
    template_text,
    template_validate,
)

KNOWN = "known: turns, earlier_turns, now, known_memories"
ROOMY = PromptLimits(
    max_chars=10_000, variable_chars=dict.fromkeys(("turns", "earlier_turns", "known_memories", "now"), 100)
)


@pytest.mark.parametrize(
    "source, problem",
    [
        ("Facts about {{ user }}", f"unknown variable 'user'; {KNOWN} (line 1)"),
        ("{{ turns.__class__ }}", "attribute access 'turns.__class__' is not allowed (line 1)"),
        ("a\n{{ turns[0] }}", "item access 'turns[0]' is not allowed (line 2)"),
        ("{{ turns['x'] }}", "item access 'turns['x']' is not allowed (line 1)"),
        ("{{ turns|upper }}", "filter 'upper' is not allowed (line 1)"),
        ("{% if turns is defined %}x{% endif %}", "test 'defined' is not allowed (line 1)"),
        ("{{ now() }}", "call 'now(...)' is not allowed (line 1)"),
        ("{{ turns ", "syntax error on line 1: unexpected end of template, expected 'end of print statement'."),
        ("ok\n\n{% if %}", "syntax error on line 3: Expected an expression, got 'end of statement block'"),
        (
            "{% for c in turns %}{{ c }}{% endfor %}",
            "'For' is not allowed; only {{ variable }} and {% if %} may be used (line 1)",
        ),
        ("{{ 'x' * 10 }}", "'Mul' is not allowed; only {{ variable }} and {% if %} may be used (line 1)"),
        ("{% include 'other' %}", "'Include' is not allowed; only {{ variable }} and {% if %} may be used (line 1)"),
    ],
)
def test_a_template_reaching_outside_the_variables_is_refused_naming_the_problem(source, problem):
    assert template_problems(source) == [problem]
    with pytest.raises(TemplateProblemsError) as raised:
        template_validate(source)
    assert raised.value.problems == [problem]


def test_jinja_globals_are_unknown_variables_and_a_chain_is_one_problem():
    assert template_problems("{{ cycler.__init__.__globals__ }}") == [
        "attribute access 'cycler.__init__.__globals__' is not allowed (line 1)",
        f"unknown variable 'cycler'; {KNOWN} (line 1)",
    ]
    assert template_problems("{{ lipsum }}\n{{ range }}") == [
        f"unknown variable 'lipsum'; {KNOWN} (line 1)",
        f"unknown variable 'range'; {KNOWN} (line 2)",
    ]


@pytest.mark.parametrize(
    "source",
    [
        "Extract facts.",
        "Facts from:\n{{ turns }}\nContext: {{ earlier_turns }}\nAt {{ now }}. Known: {{ known_memories }}",
        "{% if earlier_turns %}Use the context.{% else %}No context.{% endif %} {{ turns ~ now }}",
        "{# a comment #}{% if turns == '' %}nothing{% endif %}",
    ],
)
def test_templates_of_known_variables_are_accepted(source):
    assert template_problems(source) == []


def test_rendering_fills_the_variables_and_plain_text_stays_byte_for_byte():
    source = "Turns:\n{{ turns }}\n{% if earlier_turns %}Before: {{ earlier_turns }}{% else %}No context.{% endif %}"
    source += " {{ now }}"
    variables = {"turns": "user: hi", "earlier_turns": "", "now": "2026-12-01T10:00:00Z"}
    rendered = template_render(source, variables, limits=ROOMY)
    assert rendered == "Turns:\nuser: hi\nNo context. 2026-12-01T10:00:00Z"
    plain = "Line one\r\nline two {not jinja}\n"
    assert template_render(plain, {}, limits=ROOMY) == plain


def test_rendering_refuses_what_saving_refuses():
    with pytest.raises(TemplateProblemsError, match="attribute access 'turns.upper'"):
        template_render("{{ turns.upper }}", {"turns": "x"}, limits=ROOMY)


def test_a_templates_own_text_leaves_the_variables_out():
    assert (
        template_text("Extract {{ turns }} carefully{% if now %} today{% endif %}.")
        == "Extract \n carefully\n today\n."
    )
    assert template_text("Plain words.") == "Plain words."


# --- Size: the longest render is bounded ---------------------------------------------------

SIZES = {"turns": 100, "earlier_turns": 50, "known_memories": 0, "now": 10}


def limits(max_chars: int, **variable_chars: int) -> PromptLimits:
    return PromptLimits(max_chars=max_chars, variable_chars={**SIZES, **variable_chars})


def test_a_template_printing_a_variable_too_often_is_refused_naming_the_count():
    assert template_problems("{{ turns }}" * 10, limits(1000)) == []
    assert template_problems("{{ turns }}" * 11, limits(1000)) == [
        "the prompt can render to 1,100 characters with the largest input allowed (turns 11x; each variable "
        "brings up to 100 characters); at most 1,000 are allowed (PROMPT_MAX_CHARS): print the variables fewer times"
    ]
    with pytest.raises(TemplateProblemsError, match="can render to 100,000 characters"):
        template_validate("{{ turns }}" * 1000, limits(1000))


def test_the_longest_render_counts_one_arm_of_a_branch_and_a_boolean_as_five():
    # 2 + max(100 + 10, 50) + max(100, 10) + len("False") + len("xyz") = 220
    source = "ab{% if now %}{{ turns }}{{ now }}{% else %}{{ earlier_turns }}{% endif %}{{ turns or now }}"
    source += "{{ not turns }}{{ 'xyz' }}"
    assert template_problems(source, limits(220)) == []
    [problem] = template_problems(source, limits(219))
    assert problem.startswith("the prompt can render to 220 characters")


def test_rendering_cuts_each_variable_to_its_longest_allowed_text():
    rendered = template_render("T: {{ turns }}", {"turns": "x" * 500}, limits=limits(1000, turns=80))
    assert rendered == "T: " + "x" * 36 + "\n[... 500 characters, cut to fit the prompt]"
    assert len(rendered) == len("T: ") + 80


def test_rendering_refuses_before_rendering_a_template_saved_under_larger_limits():
    """A version saved when the cap was higher: refused by what it could print, not rendered."""
    with pytest.raises(TemplateProblemsError) as raised:
        template_render("{{ turns }}{{ turns }}", {"turns": "y" * 100}, limits=limits(150))
    assert raised.value.problems == [
        "the prompt can render to 200 characters; at most 150 are allowed (PROMPT_MAX_CHARS)"
    ]
    # Short enough turns fit the same cap: what counts is what this input could print.
    assert template_render("{{ turns }}{{ turns }}", {"turns": "y" * 75}, limits=limits(150)) == "y" * 150
    with pytest.raises(TemplateProblemsError, match="can render to 151 characters"):
        template_render("z" * 151, {}, limits=limits(150))

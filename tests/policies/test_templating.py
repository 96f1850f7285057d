"""Prompt templates: only the known variables, printed or tested with `if`; everything
that reaches outside them is refused with a message naming it and its line."""

import pytest

from policies.templating import (
    TemplateProblemsError,
    template_problems,
    template_render,
    template_text,
    template_validate,
)

KNOWN = "known: turns, earlier_turns, now, known_memories"


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
    rendered = template_render(source, {"turns": "user: hi", "earlier_turns": "", "now": "2026-12-01T10:00:00Z"})
    assert rendered == "Turns:\nuser: hi\nNo context. 2026-12-01T10:00:00Z"
    assert template_render("Line one\r\nline two {not jinja}\n", {}) == "Line one\r\nline two {not jinja}\n"


def test_rendering_refuses_what_saving_refuses():
    with pytest.raises(TemplateProblemsError, match="attribute access 'turns.upper'"):
        template_render("{{ turns.upper }}", {"turns": "x"})


def test_a_templates_own_text_leaves_the_variables_out():
    assert (
        template_text("Extract {{ turns }} carefully{% if now %} today{% endif %}.")
        == "Extract \n carefully\n today\n."
    )
    assert template_text("Plain words.") == "Plain words."

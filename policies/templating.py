"""Prompt templates of custom policy versions: Jinja2, sandboxed, and held to a few
plain variables.

A template may only print the known variables and branch or loop on them. Anything
that reaches outside them is refused when the version is saved, by walking the
parsed template, not by trusting the sandbox alone: attribute and item access (the
usual way out of a sandbox, `turns.__class__`), filters, tests and calls (code the
template would run), arithmetic (`"x" * 10**9` eats memory), loops, includes and macros.
What is left cannot do anything but print text.

Pure on purpose: no Django, no memory imports, so the services validate with it and
`memory.extraction` renders with it.
"""

from functools import lru_cache

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

# Variable -> what it holds; the admin form lists these as help text.
VARIABLES = {
    "turns": "the new turns to extract from, one `role: text` line each",
    "earlier_turns": "the earlier turns sent as context, the same way (empty when there are none)",
    "now": "the time of the run, ISO 8601 in UTC (e.g. 2026-12-01T21:54:36Z)",
    "known_memories": "what is already remembered about the user, one `id: text` line each (may be empty)",
}
# Jinja's markers: a template with none of them is plain text and is used verbatim.
MARKERS = ("{{", "{%", "{#")

# What a template may contain besides the refused constructs below: text, the known
# variables, constants, comparisons and boolean logic, and `if`. No `for`: every
# variable is text, so a loop only walks characters, and nested loops multiply them.
ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.If,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
)


class TemplateProblemsError(ValueError):
    """The template is refused; `problems` names each thing wrong with it."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # autoescape off: the output is a prompt, not HTML. keep_trailing_newline: text stays as written.
    environment = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    # No globals (range, lipsum, cycler, ...): a name is one of VARIABLES or unknown.
    environment.globals.clear()
    return environment


def _source(node: nodes.Node) -> str:
    """The expression as the author wrote it, near enough to recognise in a message."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        return repr(node.value)
    if isinstance(node, nodes.Getattr):
        return f"{_source(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        return f"{_source(node.node)}[{_source(node.arg)}]"
    if isinstance(node, nodes.Call):
        return f"{_source(node.node)}(...)"
    return "..."


def _refusal(node: nodes.Node) -> str | None:
    """Why this node is not allowed, or None when it is."""
    if isinstance(node, nodes.Getattr):
        return f"attribute access '{_source(node)}' is not allowed"
    if isinstance(node, nodes.Getitem):
        return f"item access '{_source(node)}' is not allowed"
    if isinstance(node, nodes.Filter):
        return f"filter '{node.name}' is not allowed"
    if isinstance(node, nodes.Test):
        return f"test '{node.name}' is not allowed"
    if isinstance(node, nodes.Call):
        return f"call '{_source(node)}' is not allowed"
    if isinstance(node, ALLOWED_NODES):
        return None
    return f"'{type(node).__name__}' is not allowed; only {{{{ variable }}}} and {{% if %}} may be used"


def _walk(node: nodes.Node, problems: list[str]) -> None:
    """Refuse what is not allowed; inside a refused node nothing more is said
    (`a.b.c` is one problem, not two)."""
    for child in node.iter_child_nodes():
        refusal = _refusal(child)
        if refusal:
            problems.append(f"{refusal} (line {child.lineno})")
        else:
            _walk(child, problems)


def template_problems(source: str) -> list[str]:
    """Everything wrong with the template, each naming the problem and its line; [] when fine."""
    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        return [f"syntax error on line {exc.lineno}: {exc.message}"]
    problems = []
    _walk(tree, problems)
    known = ", ".join(VARIABLES)
    for name in sorted(meta.find_undeclared_variables(tree) - set(VARIABLES)):
        line = next(n.lineno for n in tree.find_all(nodes.Name) if n.name == name)
        problems.append(f"unknown variable '{name}'; known: {known} (line {line})")
    return problems


def template_validate(source: str) -> None:
    """Raise TemplateProblemsError when the template is refused."""
    problems = template_problems(source)
    if problems:
        raise TemplateProblemsError(problems)


@lru_cache(maxsize=64)
def _compiled(source: str):
    template_validate(source)  # never render what saving would have refused
    return _environment().from_string(source)


def template_render(source: str, variables: dict[str, str]) -> str:
    """The template with the known variables filled in. Plain text (no Jinja markers)
    comes back exactly as written, line endings included, as before templates existed."""
    if not any(marker in source for marker in MARKERS):
        return source
    return _compiled(source).render({name: variables.get(name, "") for name in VARIABLES})


def template_text(source: str) -> str:
    """The template's own words, without what the variables bring in: extraction checks
    that a memory does not quote the instructions, and the turns a template prints are
    not instructions. A template that does not parse is its own text."""
    if not any(marker in source for marker in MARKERS):
        return source
    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError:
        return source
    return "\n".join(node.data for node in tree.find_all(nodes.TemplateData))

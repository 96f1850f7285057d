"""Prompt templates of custom policy versions: Jinja2, sandboxed, and held to a few
plain variables.

A template may only print the known variables and branch or loop on them. Anything
that reaches outside them is refused when the version is saved, by walking the
parsed template, not by trusting the sandbox alone: attribute and item access (the
usual way out of a sandbox, `turns.__class__`), filters, tests and calls (code the
template would run), arithmetic (`"x" * 10**9` eats memory), loops, includes and macros.
What is left cannot do anything but print text.

What is left can still print a variable many times (`{{ turns }}` a thousand times is a
gigabyte of prompt), so its size is bounded too (`PromptLimits`): every variable is cut
to its longest allowed text when rendered, and a template whose render could exceed the
prompt's cap with every variable at that length is refused when saved. The render is
checked against the cap again, for versions saved under other limits.

Pure on purpose: no Django, no memory imports, so the services validate with it and
`memory.extraction` renders with it.
"""

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Template, TemplateSyntaxError, meta, nodes
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


# What `{{ not x }}` and `{{ a == b }}` print: True or False.
LONGEST_BOOLEAN = len("False")


@dataclass(frozen=True)
class PromptLimits:
    """How long a rendered template may be, and the longest text each variable brings
    into it (a longer value is cut to this when rendered, so the bound holds)."""

    max_chars: int
    variable_chars: dict[str, int]


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


def template_problems(source: str, limits: PromptLimits | None = None) -> list[str]:
    """Everything wrong with the template, each naming the problem and its line; [] when fine.
    With `limits`, also whether its longest render fits them."""
    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        return [f"syntax error on line {exc.lineno}: {exc.message}"]
    problems: list[str] = []
    _walk(tree, problems)
    known = ", ".join(VARIABLES)
    for name in sorted(meta.find_undeclared_variables(tree) - set(VARIABLES)):
        line = next(n.lineno for n in tree.find_all(nodes.Name) if n.name == name)
        problems.append(f"unknown variable '{name}'; known: {known} (line {line})")
    if limits is not None and not problems:
        problems.extend(_size_problems(tree, limits))
    return problems


def _size_problems(tree: nodes.Template, limits: PromptLimits) -> list[str]:
    longest = _longest(tree, limits.variable_chars)
    if longest <= limits.max_chars:
        return []
    printed = Counter(node.name for node in tree.find_all(nodes.Name))
    counts = ", ".join(f"{name} {count}x" for name, count in sorted(printed.items()))
    return [
        f"the prompt can render to {longest:,} characters with the largest input allowed ({counts}; each "
        f"variable brings up to {max(limits.variable_chars.values()):,} characters); at most "
        f"{limits.max_chars:,} are allowed (PROMPT_MAX_CHARS): print the variables fewer times"
    ]


def _longest(node: nodes.Node, variable_chars: dict[str, int]) -> int:
    """The most characters `node` can print when each variable is at its longest: a branch
    prints only one of its arms, a test (`if`'s condition) prints nothing."""
    if isinstance(node, nodes.TemplateData):
        return len(node.data)
    if isinstance(node, nodes.Name):
        return variable_chars.get(node.name, 0)
    if isinstance(node, nodes.Const):
        return len(str(node.value))
    if isinstance(node, (nodes.Compare, nodes.Not)):
        return LONGEST_BOOLEAN
    if isinstance(node, nodes.If):
        arms = [node.body, *(branch.body for branch in node.elif_), node.else_]
        return max(sum(_longest(child, variable_chars) for child in arm) for arm in arms)
    if isinstance(node, nodes.CondExpr):
        return max(_longest(node.expr1, variable_chars), _longest(node.expr2, variable_chars) if node.expr2 else 0)
    if isinstance(node, (nodes.And, nodes.Or)):  # `a or b` prints a or b, never both
        return max(_longest(node.left, variable_chars), _longest(node.right, variable_chars))
    # Template, Output and Concat (`~`) print all their parts.
    return sum(_longest(child, variable_chars) for child in node.iter_child_nodes())


def template_validate(source: str, limits: PromptLimits | None = None) -> None:
    """Raise TemplateProblemsError when the template is refused."""
    problems = template_problems(source, limits)
    if problems:
        raise TemplateProblemsError(problems)


@lru_cache(maxsize=64)
def _compiled(source: str) -> tuple[nodes.Template, Template]:
    """The parsed tree (to measure the render before doing it) and the template compiled from it."""
    template_validate(source)  # never render what saving would have refused
    tree = _environment().parse(source)
    return tree, _environment().from_string(tree)


def template_render(source: str, variables: dict[str, str], *, limits: PromptLimits) -> str:
    """The template with the known variables filled in, each cut to its longest allowed
    text. Plain text (no Jinja markers) comes back exactly as written, line endings
    included, as before templates existed.

    Raises TemplateProblemsError, before rendering anything, when the render could be
    longer than the cap: only a version saved under larger limits can, since every
    value is at most as long as saving assumed."""
    plain = not any(marker in source for marker in MARKERS)
    values = {name: _cut(variables.get(name, ""), limits.variable_chars.get(name, 0)) for name in VARIABLES}
    if plain:
        template, longest = None, len(source)
    else:
        tree, template = _compiled(source)
        longest = _longest(tree, {name: len(value) for name, value in values.items()})
    if longest > limits.max_chars:
        too_long = f"the prompt can render to {longest:,} characters; at most {limits.max_chars:,} are allowed"
        raise TemplateProblemsError([f"{too_long} (PROMPT_MAX_CHARS)"])
    return source if template is None else template.render(values)


def _cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, saying how much was left out. The cut text is
    only the template's copy: the whole conversation is always sent after it as JSON."""
    if len(text) <= limit:
        return text
    note = f"\n[... {len(text):,} characters, cut to fit the prompt]"
    return text[: max(limit - len(note), 0)] + note[:limit]


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

"""The forms of the policy editor: a version (every field documented where it is edited)
and the conversation pasted into "Try it"."""

import json
import re
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from memory.extraction import Turn
from policies.llm_models import allowed_models_text, model_refusal
from policies.models import PolicyVersion, Strategy
from policies.services import EDITABLE_FIELDS, prompt_template_problems
from policies.strategies import PARAMS, STRATEGY_PARAM_DEFAULTS, params_validate
from policies.templating import VARIABLES

PARAM_MEANINGS = {
    "temperature": "sampling temperature sent to the model (0 is the most repeatable)",
    "max_tokens": "the most tokens the model may answer with",
    "max_memories": "memories kept from one run; items past it are dropped and counted",
    "max_memory_chars": "longest memory kept, in characters; longer items are dropped",
    "context_messages": "earlier turns sent as context (read, never extracted from)",
}
STRATEGY_HELP = (
    "discrete: one fact or event per memory. summary: one memory summarising the new turns. "
    "preferences: the user's likes, habits and choices. custom: your own prompt template, with the "
    "same output rules. messages: each turn stored verbatim, no LLM (the only one that runs without one). "
    "summarize: the summary views' policy only; its prompt is plain instructions, sent before a partition's memories."
)
MODEL_HELP = (
    "A LiteLLM model name, provider first: openai/gpt-4o-mini, anthropic/claude-3-5-haiku-20241022, "
    "ollama/llama3.1, bedrock/…, or openai/<name> for any OpenAI-compatible server at LLM_API_BASE. "
    "Empty means the LLM_MODEL setting ({current}). The messages strategy calls no model. "
    "Allowed: {allowed}."
)
ROLES = ("user", "assistant", "system", "tool")
PLAIN_LINE = re.compile(r"^\s*(\w+)\s*:\s?(.*)$")


def params_help() -> SafeString:
    """Every param with its meaning, range and default, and the strategies that change a default."""
    rows = format_html_join(
        "",
        "<li><code>{}</code>: {}; {} to {}, default {}{}</li>",
        (
            (name, PARAM_MEANINGS.get(name, ""), low, high, default, _strategy_defaults(name))
            for name, (default, low, high) in PARAMS.items()
        ),
    )
    return format_html('A JSON object; every key is optional. <ul id="params-help">{}</ul>', rows)


def _strategy_defaults(name: str) -> str:
    own = [f"{strategy} {values[name]}" for strategy, values in STRATEGY_PARAM_DEFAULTS.items() if name in values]
    return f" ({', '.join(own)})" if own else ""


def template_help() -> SafeString:
    variables = format_html_join("", "<li><code>{{{{ {} }}}}</code>: {}</li>", VARIABLES.items())
    return format_html(
        "Instructions of the custom strategy, as a Jinja2 template (other strategies use their built-in "
        'instructions and ignore it). Variables: <ul id="template-variables">{}</ul>'
        "Only <code>{{{{ variable }}}}</code> and <code>{{% if %}}</code> may be used: no filters, tests, "
        "calls, loops, attribute or item access. The output rules and the conversation as JSON are "
        "always sent after it.",
        variables,
    )


class PolicyVersionForm(forms.ModelForm[PolicyVersion]):
    """Checks what the services check, with their functions (shown as form errors instead
    of a 500), with the help an editor needs: strategies, LiteLLM model names (and which the
    operator allows), every param, every variable."""

    class Meta:
        model = PolicyVersion
        fields: tuple[str, ...] = ("policy", *EDITABLE_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        helps = {
            "strategy": STRATEGY_HELP,
            "prompt_template": template_help(),
            "model": MODEL_HELP.format(
                current=settings.LLM_MODEL or "not set: LLM extraction is off", allowed=allowed_models_text()
            ),
            "params": params_help(),
        }
        for name, text in helps.items():
            if name in self.fields:
                self.fields[name].help_text = text

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean() returns
        template = cleaned.get("prompt_template") or ""
        if cleaned.get("strategy") == Strategy.CUSTOM and not template.strip():
            self.add_error("prompt_template", "The custom strategy needs a prompt template.")
        # A summarize prompt is plain text (the services bound its length), not a template.
        if cleaned.get("strategy") != Strategy.SUMMARIZE:
            for problem in prompt_template_problems(template):
                self.add_error("prompt_template", problem)
        refusal = model_refusal(cleaned.get("model") or "")
        if refusal:
            self.add_error("model", refusal)
        try:
            params_validate(cleaned.get("params") or {})
        except ValueError as exc:
            self.add_error("params", str(exc))
        return cleaned


class NewVersionForm(PolicyVersionForm):
    """A version of a policy that is already chosen (the one it starts from)."""

    class Meta(PolicyVersionForm.Meta):
        fields = EDITABLE_FIELDS

    @classmethod
    def initial_from(cls, version: PolicyVersion) -> dict[str, Any]:
        return {name: getattr(version, name) for name in EDITABLE_FIELDS}


class TryItForm(forms.Form):
    conversation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 100}),
        help_text=(
            'JSON messages, <code>[{"role": "user", "content": "…"}, …]</code>, or plain lines of '
            "<code>role: text</code>, one turn a line (roles: user, assistant, system, tool)."
        ),
    )

    def clean_conversation(self) -> list[Turn]:
        text = self.cleaned_data["conversation"].strip()
        messages = _json_messages(text) if text.startswith("[") else _plain_messages(text)
        if not messages:
            raise forms.ValidationError("No turns: paste at least one message.")
        now = timezone.now()
        return [
            Turn(id=f"t{n}", role=role, content=content, created_at=now)
            for n, (role, content) in enumerate(messages, 1)
        ]


def _json_messages(text: str) -> list[tuple[str, str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"Line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno}).") from exc
    if not isinstance(data, list):
        raise forms.ValidationError("JSON messages must be a list.")
    messages = []
    for number, item in enumerate(data, start=1):
        role, content = (item.get("role"), item.get("content")) if isinstance(item, dict) else (None, None)
        if not isinstance(role, str) or not isinstance(content, str):
            raise forms.ValidationError(f'Message {number}: needs "role" and "content" strings.')
        messages.append((_role(role, f"Message {number}"), content))
    return messages


def _plain_messages(text: str) -> list[tuple[str, str]]:
    messages = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = PLAIN_LINE.match(line)
        if match is None:
            raise forms.ValidationError(f"Line {number}: expected `role: text`, got {line.strip()[:80]!r}.")
        messages.append((_role(match.group(1), f"Line {number}"), match.group(2).strip()))
    return messages


def _role(role: str, where: str) -> str:
    if role.lower() not in ROLES:
        raise forms.ValidationError(f"{where}: unknown role {role!r}; roles: {', '.join(ROLES)}.")
    return role.lower()

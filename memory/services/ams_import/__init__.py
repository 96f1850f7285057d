"""Importing a reference deployment (agent-memory-server 0.15.x) from its Redis:
`manage.py import_ams`'s service.

`ams_import` first walks the reference for the namespaces it holds (those `namespaces`
selects) and checks each is free or the tenant's, refusing before anything is written;
then claims them and imports records, sessions, summary views and their partition
results, a SCAN batch at a time, each batch committed on its own: memory stays flat, and
an interrupted import resumes where it stopped (what is here already is skipped, see
`apply`). Everything it cannot map is in the report, by key and reason.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from memory.models import SummaryView, TenantNamespace
from memory.redis_keys import ams
from memory.services.ams_import.apply import (
    ACTOR,
    Outcome,
    partition_import,
    records_import,
    session_import,
    view_import,
)
from memory.services.ams_import.source import Reference, SourceRecord, SourceSession, SourceView, Unmapped
from memory.services.api_keys import NamespaceOwnedElsewhere, tenant_namespaces_claim
from memory.services.quotas import QuotaExceeded

KINDS = ("records", "sessions", "views", "partitions")
Step = Callable[[str, int], object]
Progress = Callable[[str, int, int], object]  # (kind, keys done in the batch, keys in all): after each batch


@dataclass
class ImportReport:
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {kind: Counter() for kind in KINDS})
    unmapped: list[Unmapped] = field(default_factory=list)  # keys (or parts of them) not imported
    notes: list[Unmapped] = field(default_factory=list)  # imported, less what is listed
    listed: list[Outcome] = field(default_factory=list)  # skipped keys worth naming: changed, taken
    namespaces: list[str] = field(default_factory=list)  # claimed for the tenant, or found
    without_namespace: int = 0  # records and sessions with none: only operator keys reach them
    totals: dict[str, int] = field(default_factory=dict)  # keys per kind, for a progress bar

    def add(self, kind: str, outcome: Outcome) -> None:
        self.counts[kind][outcome.outcome] += 1
        if outcome.reason:
            self.listed.append(outcome)

    def skip(self, kind: str, unmapped: Unmapped) -> None:
        self.counts[kind]["unmapped"] += 1
        self.unmapped.append(unmapped)


def ams_namespaces(reference: Reference) -> tuple[set[str], dict[str, int]]:
    """The namespaces the reference's records, sessions and views name (those selected),
    and its key count per kind. One pass, a batch at a time."""
    found: set[str] = set()
    totals = Counter[str]()
    for namespace in reference.record_namespaces():
        totals["records"] += 1
        if namespace and (reference.namespaces is None or namespace in reference.namespaces):
            found.add(namespace)
    for batch in reference.batches(ams.SESSION_MATCH):
        for session in reference.sessions(batch):
            totals["sessions"] += 1
            namespace = session.namespace if isinstance(session, SourceSession) else None
            if namespace and (reference.namespaces is None or namespace in reference.namespaces):
                found.add(namespace)
    totals["views"] = reference.count(ams.VIEW_CONFIG_MATCH)
    return found, dict(totals)


def ams_import(
    *,
    reference: Reference,
    tenant: str,
    dry_run: bool,
    reuse_vectors: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import everything `reference` selects for `tenant` ("" with AUTH_MODE=disabled: no
    namespace is claimed). A namespace another tenant owns raises NamespaceOwnedElsewhere
    naming it, before anything is written. `reuse_vectors`: keep the reference's vectors
    (VectorsOfAnotherModel, raised at the first batch, when they are not our model's)."""
    report = ImportReport()
    namespaces, report.totals = ams_namespaces(reference)
    report.namespaces = sorted(namespaces)
    if tenant:
        owned = TenantNamespace.objects.filter(namespace__in=namespaces).exclude(tenant=tenant)
        taken = sorted(owned.values_list("namespace", flat=True))
        if taken:
            raise NamespaceOwnedElsewhere(f"Namespace(s) {', '.join(taken)} belong to another tenant.")
        if not dry_run:
            tenant_namespaces_claim(tenant=tenant, namespaces=report.namespaces, actor=ACTOR)
    total = sum(report.totals.values())

    def step(kind: str, done: int) -> None:
        if progress is not None:
            progress(kind, done, total)

    _records(reference, report, dry_run, reuse_vectors, step)
    _sessions(reference, report, dry_run, step)
    _views(reference, report, tenant, dry_run, step)
    report.unmapped += [
        Unmapped(key.decode(), "the reference's own API token: make keys here with `manage.py apikey`")
        for batch in reference.batches(ams.AUTH_TOKEN_MATCH)
        for key in batch
    ]
    report.unmapped += _other_keys(reference)
    return report


def _other_keys(reference: Reference) -> list[Unmapped]:
    """The reference's other keys, by family (its task queue, an older layout's keys): counted
    and listed, so nothing in its Redis goes unmentioned."""
    families = Counter[str]()
    for batch in reference.batches("*"):
        for key in batch:
            family = ams.family(key.decode(errors="replace"), reference.record_prefix)
            if family is not None:
                families[family] += 1
    return [
        Unmapped(f"{family}:* ({count} keys)", ams.FAMILY_REASONS.get(family, "not a kind of key this import knows"))
        for family, count in sorted(families.items())
    ]


def _records(reference: Reference, report: ImportReport, dry_run: bool, reuse_vectors: bool, step: Step) -> None:
    for batch in reference.batches(ams.record_match(reference.record_prefix)):
        sources: list[SourceRecord] = []
        for parsed in reference.records(batch):
            if isinstance(parsed, Unmapped):
                report.skip("records", parsed)
            elif reference.selected(parsed.values["namespace"], "records"):
                sources.append(parsed)
                report.notes += parsed.notes
        for outcome in records_import(sources=sources, dry_run=dry_run, reuse_vectors=reuse_vectors):
            report.add("records", outcome)
        report.without_namespace += sum(1 for s in sources if s.values["namespace"] is None)
        step("records", len(batch))


def _sessions(reference: Reference, report: ImportReport, dry_run: bool, step: Step) -> None:
    for batch in reference.batches(ams.SESSION_MATCH):
        for parsed in reference.sessions(batch):
            if isinstance(parsed, Unmapped):
                report.skip("sessions", parsed)
                continue
            if not reference.selected(parsed.namespace, "sessions"):
                continue
            try:
                report.add("sessions", session_import(source=parsed, dry_run=dry_run))
            except QuotaExceeded as exc:
                report.skip("sessions", Unmapped(parsed.key, f"refused by a quota: {exc}"))
                continue
            report.notes += parsed.notes
            report.without_namespace += parsed.namespace is None
        step("sessions", len(batch))


def _views(reference: Reference, report: ImportReport, tenant: str, dry_run: bool, step: Step) -> None:
    reach = report.namespaces if tenant else None
    for batch in reference.batches(ams.VIEW_CONFIG_MATCH):
        for parsed in reference.views(batch):
            if isinstance(parsed, Unmapped):
                report.skip("views", parsed)
                continue
            filtered = parsed.values.get("filters", {}).get("namespace")
            if isinstance(filtered, str) and not reference.selected(filtered, "views"):
                continue
            try:
                outcome, view = view_import(source=parsed, tenant=tenant, namespaces=reach, dry_run=dry_run)
            except ValidationError as exc:  # its prompt or model, refused as a view created here would be
                report.skip("views", Unmapped(parsed.key, f"refused: {'; '.join(exc.messages)}"))
                continue
            report.add("views", outcome)
            _partitions(reference, report, parsed, view, dry_run)
        step("views", len(batch))


def _partitions(
    reference: Reference, report: ImportReport, source: SourceView, view: SummaryView | None, dry_run: bool
) -> None:
    for parsed in reference.partitions(source.values["id"]):
        if isinstance(parsed, Unmapped):
            report.skip("partitions", parsed)
        else:
            report.add("partitions", partition_import(source=parsed, view=view, dry_run=dry_run))

"""Creating and deleting summary views.

A view belongs to the creating credential's tenant, and its reach (namespaces, user ids)
is that credential's scope, so its partitions never hold memories the creator could not
read. A view with its own prompt or model gets a summarizing policy version made from
them (`policies.services.summary.summary_version_for_view`). Who created a view is on its
row (`created_by`); a deletion is logged with its actor (as API keys' revocations are):
its partitions go with it, its tasks stay (the reference keeps them too).
"""

import logging
from typing import Any

from django.db import transaction

from memory.models import SummaryView
from policies.services.summary import summary_version_for_view

logger = logging.getLogger(__name__)


@transaction.atomic
def summary_view_create(
    *,
    tenant: str,
    namespaces: frozenset[str] | None,
    user_ids: frozenset[str] | None,
    fields: dict[str, Any],
    actor: str,
) -> SummaryView:
    """Store a validated view (`fields`: name, source, group_by, filters, time_window_days,
    continuous, prompt, model_name) for `tenant`, reaching `namespaces` and `user_ids`."""
    view = SummaryView(
        tenant=tenant,
        namespaces=sorted(namespaces) if namespaces is not None else None,
        user_ids=sorted(user_ids) if user_ids is not None else None,
        created_by=actor,
        **fields,
    )
    view.policy_version = summary_version_for_view(prompt=view.prompt, model_name=view.model_name, actor=actor)
    view.save()
    logger.info("summary view %s created for tenant %r by %s", view.id, tenant, actor)
    return view


@transaction.atomic
def summary_view_delete(*, view: SummaryView, actor: str) -> None:
    """Delete the view and its partitions (cascade); its tasks stay, as the reference's do."""
    partitions = view.partitions.count()
    view_id = view.id
    view.delete()
    logger.info("summary view %s deleted by %s with %d partitions", view_id, actor, partitions)

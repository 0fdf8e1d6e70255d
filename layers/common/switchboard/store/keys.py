"""Every DynamoDB key of the control table is spelled here, and only here.

Control table (pk, sk) with one overloaded index gsi1 (gsi1pk, gsi1sk); invitations carry ``ttl`` (TTL):

| entity              | pk                  | sk                 | gsi1pk                       | gsi1sk                      |
|---------------------|---------------------|--------------------|------------------------------|-----------------------------|
| user                | USER#<user>         | USER               |                              |                             |
| email claim         | EMAIL#<email>       | EMAIL              |                              |                             |
| organization        | ORG#<org>           | ORG                |                              |                             |
| org membership      | ORG#<org>           | MEMBER#<user>      | USER#<user>                  | ORG#<org>                   |
| project             | PROJECT#<project>   | PROJECT            | ORG#<org>#PROJECTS           | <created>#<project>         |
| project membership  | PROJECT#<project>   | MEMBER#<user>      | USER#<user>                  | PROJECT#<org>#<project>     |
| token (PAT / key)   | TOKEN#<token>       | TOKEN              | USER#<user>#PATS or          | <created>#<token>           |
|                     |                     |                    | ORG#<org>#ACCESS_KEYS        |                             |
| invitation          | INVITATION#<inv>    | INVITATION         | ORG#<org>#INVITATIONS        | <created>#<inv>             |
| connection          | CONNECTION#<conn>   | CONNECTION         | PROJECT#<project>#CONNECTIONS| <created>#<conn>            |
| workflow            | WORKFLOW#<wf>       | WORKFLOW           | PROJECT#<project>#WORKFLOWS  | <created>#<wf>              |
| workflow version    | WORKFLOW#<wf>       | VERSION#<n:010>    |                              |                             |
| app                 | APP#<app>           | APP                | PROJECT#<project>#APPS       | <created>#<app>             |
| deployment          | APP#<app>           | DEPLOYMENT#<n:010> |                              |                             |
| trigger             | TRIGGER#<trigger>   | TRIGGER            | APP#<app>#TRIGGERS           | <name>                      |
| trigger name claim  | APP#<app>           | TRIGGERNAME#<name> |                              |                             |

Runs table (pk, sk, gsi1, gsi2); every item carries ``expires_at`` (TTL). gsi2 holds only unfinished runs
(``ACTIVE_SHARDS`` partitions), sorted by when the sweeper should look at them: a created run by when it should
have started, a started one by its deadline; ending a run removes it. ``<n>`` is a listing shard
(``shard_of``: ``RUN_SHARDS`` per App, ``EVENT_SHARDS`` per trigger); items written before sharding keep the
unsharded partition (``APP#<app>#RUNS``, ``TRIGGER#<trg>#EVENTS``), which listings read as one shard more.

| entity       | pk           | sk                | gsi1pk             | gsi1sk               |
|--------------|--------------|-------------------|--------------------|----------------------|
| run          | RUN#<run>    | RUN               | APP#<app>#RUNS#<n> | <created>#<run>      |
|              |              |                   | gsi2pk: RUNS#ACTIVE#<shard>, gsi2sk: <due>#<run> (sparse) |
| run event    | RUN#<run>    | EVENT#<seq:010>   |                    |                      |
| trace        | RUN#<run>    | TRACE             |                    |                      |
| delivery     | RUN#<run>    | DELIVERY#<dlv>    |                    |                      |
| session      | SESSION#<app>#<session> | SESSION | APP#<app>#SESSIONS | <last run>#<session> |
| session turn | SESSION#<app>#<session> | TURN#<created>#<run> |         |                      |
| trigger event    | TRIGGER#<trg>#EVENTS#<n> | EVT#<received>#<tev> |   |                      |
| event by id      | TRIGGER#<trg>#EVENTS | ID#<tev>             |       |                      |
| trigger firing   | TRIGGER#<trg>#FIRING | <firing key>         |       |                      |
| App metrics      | METRICS#<app>        | MINUTE#<yyyy-mm-ddThh:mm> (``store.run_metrics``) | |  |

Idempotency table (id only; TTL on ``expiration``): record ``<app>#<Idempotency-Key>``.

Links table (pk, sk, gsi1); connect tokens, OAuth 2.0 states and link-event deliveries carry ``ttl`` (TTL):

| entity              | pk                      | sk                   | gsi1pk           | gsi1sk          |
|---------------------|-------------------------|----------------------|------------------|-----------------|
| link                | LINK#<app>#<user>       | REQ#<req>            | APP#<app>#LINKS  | <user>#<req>    |
| link by id          | LINKREF#<link>          | LINK                 |                  |                 |
| link transition     | LINKLOG#<link>          | AT#<at>#<rev:010>    |                  |                 |
| connect token       | CONNECT#<token>         | TOKEN                |                  |                 |
| OAuth 2.0 state     | OAUTH2STATE#<state>     | STATE                |                  |                 |
| link-event delivery | LINKEVENT#<event>       | DELIVERY#<dlv>       |                  |                 |
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from switchboard.domain.ids import iso

Key = dict[str, str]
GSI1 = "gsi1"
GSI2 = "gsi2"
ACTIVE_SHARDS = 8
"""Partitions of the unfinished-runs index: one partition takes 1,000 writes a second, each run writes two."""
RUN_SHARDS = 16
"""Listing partitions of one App's runs: each takes 1,000 WCU a second, a run writes about 6 WCU to its own."""
EVENT_SHARDS = 8
"""Listing partitions of one trigger's events."""
TRIGGER_EVENT_PREFIX = "EVT#"
_MOMENT = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
RUN_LISTING_POSITION = re.compile(rf"{_MOMENT}#run-[a-z2-7]{{20}}")
"""The shape of a run's listing sort key (gsi1sk ``<created>#<run>``): where a listing cursor may point."""
TRIGGER_EVENT_POSITION = re.compile(rf"{TRIGGER_EVENT_PREFIX}{_MOMENT}#tev-[a-z2-7]{{20}}")
"""The shape of a trigger event's sort key (``EVT#<received>#<tev>``): where a listing cursor may point."""


def _key(pk: str, sk: str) -> Key:
    return {"pk": pk, "sk": sk}


def shard_of(entity_id: str, shards: int) -> int:
    """The entity's shard among ``shards``: stable (a hash of its id) and spread evenly."""
    return int(hashlib.sha256(entity_id.encode()).hexdigest()[:8], 16) % shards


def _sortable(created_at: datetime, entity_id: str) -> str:
    return f"{iso(created_at)}#{entity_id}"


def user(user_id: str) -> Key:
    return _key(f"USER#{user_id}", "USER")


def email_claim(email: str) -> Key:
    return _key(f"EMAIL#{email.lower()}", "EMAIL")


def org(org_id: str) -> Key:
    return _key(f"ORG#{org_id}", "ORG")


def org_member(org_id: str, user_id: str) -> Key:
    return _key(f"ORG#{org_id}", f"MEMBER#{user_id}")


def org_members_prefix(org_id: str) -> tuple[str, str]:
    return f"ORG#{org_id}", "MEMBER#"


def org_member_index(org_id: str, user_id: str) -> Key:
    return {"gsi1pk": f"USER#{user_id}", "gsi1sk": f"ORG#{org_id}"}


def user_orgs_prefix(user_id: str) -> tuple[str, str]:
    return f"USER#{user_id}", "ORG#"


def project(project_id: str) -> Key:
    return _key(f"PROJECT#{project_id}", "PROJECT")


def org_projects(org_id: str) -> str:
    return f"ORG#{org_id}#PROJECTS"


def project_member(project_id: str, user_id: str) -> Key:
    return _key(f"PROJECT#{project_id}", f"MEMBER#{user_id}")


def project_members_prefix(project_id: str) -> tuple[str, str]:
    return f"PROJECT#{project_id}", "MEMBER#"


def project_member_index(org_id: str, project_id: str, user_id: str) -> Key:
    return {"gsi1pk": f"USER#{user_id}", "gsi1sk": f"PROJECT#{org_id}#{project_id}"}


def user_projects_prefix(user_id: str, org_id: str) -> tuple[str, str]:
    return f"USER#{user_id}", f"PROJECT#{org_id}#"


def token(token_id: str) -> Key:
    return _key(f"TOKEN#{token_id}", "TOKEN")


def user_tokens(user_id: str) -> str:
    return f"USER#{user_id}#PATS"


def org_access_keys(org_id: str) -> str:
    return f"ORG#{org_id}#ACCESS_KEYS"


def invitation(invitation_id: str) -> Key:
    return _key(f"INVITATION#{invitation_id}", "INVITATION")


def org_invitations(org_id: str) -> str:
    return f"ORG#{org_id}#INVITATIONS"


def connection(connection_id: str) -> Key:
    return _key(f"CONNECTION#{connection_id}", "CONNECTION")


def project_connections(project_id: str) -> str:
    return f"PROJECT#{project_id}#CONNECTIONS"


def workflow(workflow_id: str) -> Key:
    return _key(f"WORKFLOW#{workflow_id}", "WORKFLOW")


def project_workflows(project_id: str) -> str:
    return f"PROJECT#{project_id}#WORKFLOWS"


def workflow_version(workflow_id: str, number: int) -> Key:
    return _key(f"WORKFLOW#{workflow_id}", f"VERSION#{number:010d}")


def workflow_versions_prefix(workflow_id: str) -> tuple[str, str]:
    return f"WORKFLOW#{workflow_id}", "VERSION#"


def app(app_id: str) -> Key:
    return _key(f"APP#{app_id}", "APP")


def project_apps(project_id: str) -> str:
    return f"PROJECT#{project_id}#APPS"


def deployment(app_id: str, sequence: int) -> Key:
    return _key(f"APP#{app_id}", f"DEPLOYMENT#{sequence:010d}")


def deployments_prefix(app_id: str) -> tuple[str, str]:
    return f"APP#{app_id}", "DEPLOYMENT#"


def trigger(trigger_id: str) -> Key:
    return _key(f"TRIGGER#{trigger_id}", "TRIGGER")


def app_triggers(app_id: str) -> str:
    return f"APP#{app_id}#TRIGGERS"


def trigger_index(app_id: str, name: str) -> Key:
    return {"gsi1pk": app_triggers(app_id), "gsi1sk": name}


def trigger_name_claim(app_id: str, name: str) -> Key:
    return _key(f"APP#{app_id}", f"TRIGGERNAME#{name}")


def listing_index(partition: str, created_at: datetime, entity_id: str) -> Key:
    return {"gsi1pk": partition, "gsi1sk": _sortable(created_at, entity_id)}


def listing_until(moment: datetime) -> str:
    """A gsi1sk upper bound: every listing entry created at or before ``moment`` sorts at or below it."""
    return f"{iso(moment)}#\uffff"


def run(run_id: str) -> Key:
    return _key(f"RUN#{run_id}", "RUN")


def run_id_of(partition: str) -> str:
    """The run id in a run item's partition key (``RUN#<run>``)."""
    return partition.removeprefix("RUN#")


def app_runs(app_id: str) -> str:
    """The App's runs listing as a whole: the unsharded partition of runs written before sharding."""
    return f"APP#{app_id}#RUNS"


def app_run_shard(app_id: str, run_id: str) -> str:
    return f"{app_runs(app_id)}#{shard_of(run_id, RUN_SHARDS)}"


def app_run_partitions(app_id: str) -> list[str]:
    """Every partition that lists the App's runs: the shards, then the unsharded one."""
    return [f"{app_runs(app_id)}#{n}" for n in range(RUN_SHARDS)] + [app_runs(app_id)]


def active_run_index(run_id: str, due: datetime) -> Key:
    """The run's entry in the unfinished-runs index, due for the sweeper at ``due``."""
    return {"gsi2pk": active_runs(shard_of(run_id, ACTIVE_SHARDS)), "gsi2sk": f"{iso(due)}#{run_id}"}


def active_runs(shard: int) -> str:
    return f"RUNS#ACTIVE#{shard}"


def active_runs_due(moment: datetime) -> str:
    """A gsi2sk upper bound: every entry due at or before ``moment`` sorts below it."""
    return f"{iso(moment)}#\uffff"


def run_event(run_id: str, sequence: int) -> Key:
    return _key(f"RUN#{run_id}", f"EVENT#{sequence:010d}")


def run_events_prefix(run_id: str) -> tuple[str, str]:
    return f"RUN#{run_id}", "EVENT#"


def run_trace(run_id: str) -> Key:
    return _key(f"RUN#{run_id}", "TRACE")


def app_metrics_minute(app_id: str, minute: datetime) -> Key:
    """The aggregate of the App's runs that ended (or began waiting for input) in ``minute``."""
    return _key(f"METRICS#{app_id}", f"MINUTE#{_minute(minute)}")


def app_metrics_minutes(app_id: str, first: datetime, last: datetime) -> tuple[str, str, str]:
    """The partition and the inclusive sort key bounds of the App's minutes ``first`` to ``last``."""
    return f"METRICS#{app_id}", f"MINUTE#{_minute(first)}", f"MINUTE#{_minute(last)}"


def app_metrics_minute_of(sort_key: str) -> datetime:
    return datetime.strptime(sort_key.removeprefix("MINUTE#"), "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def run_delivery(run_id: str, delivery_id: str) -> Key:
    return _key(f"RUN#{run_id}", f"DELIVERY#{delivery_id}")


def run_deliveries_prefix(run_id: str) -> tuple[str, str]:
    return f"RUN#{run_id}", "DELIVERY#"


def link(app_id: str, user_id: str, requirement_id: str) -> Key:
    return _key(f"LINK#{app_id}#{user_id}", f"REQ#{requirement_id}")


def user_links_prefix(app_id: str, user_id: str) -> tuple[str, str]:
    return f"LINK#{app_id}#{user_id}", "REQ#"


def app_links(app_id: str) -> str:
    return f"APP#{app_id}#LINKS"


def link_index(app_id: str, user_id: str, requirement_id: str) -> Key:
    return {"gsi1pk": app_links(app_id), "gsi1sk": f"{user_id}#{requirement_id}"}


def link_ref(link_id: str) -> Key:
    return _key(f"LINKREF#{link_id}", "LINK")


def link_transition(link_id: str, at: datetime, revision: int) -> Key:
    return _key(f"LINKLOG#{link_id}", f"AT#{iso(at)}#{revision:010d}")


def link_transitions_prefix(link_id: str) -> tuple[str, str]:
    return f"LINKLOG#{link_id}", "AT#"


def connect_token(token_id: str) -> Key:
    return _key(f"CONNECT#{token_id}", "TOKEN")


def oauth2_state(state_id: str) -> Key:
    return _key(f"OAUTH2STATE#{state_id}", "STATE")


def oauth2_revocation(link_id: str) -> Key:
    return _key(f"OAUTH2REVOKE#{link_id}", "REVOCATION")


def link_event_delivery(event_id: str, delivery_id: str) -> Key:
    return _key(f"LINKEVENT#{event_id}", f"DELIVERY#{delivery_id}")


def session_turn(app_id: str, session_id: str, created_at: datetime, run_id: str) -> Key:
    return _key(f"SESSION#{app_id}#{session_id}", f"TURN#{iso(created_at)}#{run_id}")


def session_turn_created_at(sort_key: str) -> str:
    """When a session turn was created, read from its sort key (``TURN#<created>#<run>``)."""
    return sort_key.split("#")[1]


def session_turns_prefix(app_id: str, session_id: str) -> tuple[str, str]:
    return f"SESSION#{app_id}#{session_id}", "TURN#"


def session(app_id: str, session_id: str) -> Key:
    return _key(f"SESSION#{app_id}#{session_id}", "SESSION")


def app_sessions(app_id: str) -> str:
    return f"APP#{app_id}#SESSIONS"


def trigger_events(trigger_id: str) -> str:
    """The trigger's events listing as a whole: the unsharded partition of events written before sharding."""
    return f"TRIGGER#{trigger_id}#EVENTS"


def trigger_event(trigger_id: str, received_at: datetime, event_id: str) -> Key:
    shard = shard_of(event_id, EVENT_SHARDS)
    return _key(
        f"{trigger_events(trigger_id)}#{shard}", f"{TRIGGER_EVENT_PREFIX}{iso(received_at)}#{event_id}"
    )


def unsharded_trigger_event(trigger_id: str, received_at: datetime, event_id: str) -> Key:
    """Where an event recorded before sharding is."""
    return _key(trigger_events(trigger_id), f"{TRIGGER_EVENT_PREFIX}{iso(received_at)}#{event_id}")


def trigger_event_partitions(trigger_id: str) -> list[str]:
    """Every partition that lists the trigger's events: the shards, then the unsharded one."""
    return [f"{trigger_events(trigger_id)}#{n}" for n in range(EVENT_SHARDS)] + [trigger_events(trigger_id)]


def trigger_event_id(trigger_id: str, event_id: str) -> Key:
    """Where an event is found by its id: the item names the event's own key."""
    return _key(trigger_events(trigger_id), f"ID#{event_id}")


def trigger_firing(trigger_id: str, firing_key: str) -> Key:
    return _key(f"TRIGGER#{trigger_id}#FIRING", firing_key)


def idempotency_record(app_id: str, idempotency_key: str) -> dict[str, str]:
    return {"id": f"{app_id}#{idempotency_key}"}

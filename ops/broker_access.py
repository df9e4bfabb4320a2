"""Participants' broker logins and ACLs, and the bundle handed to each participant.

Why SCRAM-SHA-512 rather than one client certificate per participant: the broker checks no
certificate revocation lists, so a revoked certificate would still log in until it expires;
deleting a SCRAM credential refuses the next login at once. The transport is TLS all the same
(the hub CA's certificate is in the bundle), and the broker stores only a salted hash.

A participant's principal is `<topic prefix><participant id>` (so that test and demo namespaces
on one broker never share a login). It may write the ingest topic, read its own notification
topic, and use consumer groups whose names start with its principal; nothing else, not even
listing other topics.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.errors import KafkaError

from hub.bundle import Bundle
from hub.config import Settings
from hub.keys import VerifyKey
from hub.registry import load_operator_key
from hub.topics import notification_spec, topic_name
from ops.errors import ServiceError
from ops.services.tls import ca_pem
from processors.topic_admin import admin_client, ensure_notification_topic

# PBKDF2 rounds the broker stores per credential (Kafka's minimum is 4096).
SCRAM_ITERATIONS = 8192


def principal_of(settings: Settings, participant_id: str) -> str:
    """The broker login name of a participant in this namespace."""
    notification_spec(participant_id)  # refuses ids that are not <area code>-<department>
    return f"{settings.topic_prefix}{participant_id}"


def _acls(settings: Settings, participant_id: str, principal: str) -> list[ACL]:
    user = f"User:{principal}"

    def allow(operation: ACLOperation, kind: ResourceType, name: str,
              pattern: ACLResourcePatternType = ACLResourcePatternType.LITERAL) -> ACL:
        return ACL(user, "*", operation, ACLPermissionType.ALLOW,
                   ResourcePattern(kind, name, pattern))

    ingest = topic_name(settings, "ingest")
    inbox = notification_spec(participant_id).name(settings)
    return [
        allow(ACLOperation.WRITE, ResourceType.TOPIC, ingest),
        allow(ACLOperation.DESCRIBE, ResourceType.TOPIC, ingest),
        allow(ACLOperation.READ, ResourceType.TOPIC, inbox),
        allow(ACLOperation.DESCRIBE, ResourceType.TOPIC, inbox),
        allow(ACLOperation.READ, ResourceType.GROUP, f"{principal}.",
              ACLResourcePatternType.PREFIXED),
    ]


def _everything_of(principal: str) -> ACLFilter:
    return ACLFilter(
        f"User:{principal}", None, ACLOperation.ANY, ACLPermissionType.ANY,
        ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )


def _check(results: dict[str, Any], what: str) -> None:
    failed = {user: error for user, error in results.items() if error}
    if failed:
        raise ServiceError(f"{what} refused by the broker: {failed}")


def grant_access(
    settings: Settings, participant_id: str, operator: VerifyKey | None = None
) -> Bundle:
    """A new login and the ACLs for `participant_id` (replacing any earlier secret).

    The bundle pins `operator` (default: the hub operator key under the data dir).
    """
    principal = principal_of(settings, participant_id)
    secret = secrets.token_urlsafe(32)
    ensure_notification_topic(settings, participant_id)
    try:
        with admin_client(settings) as admin:
            _check(admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
                principal, ScramMechanism.SCRAM_SHA_512, secret, iterations=SCRAM_ITERATIONS,
            )]), f"the login of {principal}")
            result = admin.create_acls(_acls(settings, participant_id, principal))
            if result.get("failed"):
                raise ServiceError(f"ACLs for {principal} refused: {result['failed']}")
    except KafkaError as err:
        raise ServiceError(f"cannot give {participant_id} access to the broker: {err!r}") from err
    return Bundle(
        participant_id=participant_id,
        principal=principal,
        secret=secret,
        bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix,
        ca_certificate=ca_pem(settings),
        hub_operator_public_key=(operator or load_operator_key(settings.data_dir)).base64,
        issued_at=datetime.now(UTC).isoformat(),
    )


def revoke_access(settings: Settings, participant_id: str) -> list[str]:
    """Delete the participant's login and every ACL naming it; sentences saying what went."""
    principal = principal_of(settings, participant_id)
    done = []
    try:
        with admin_client(settings) as admin:
            known = admin.describe_user_scram_credentials([principal])
            if known.get(principal, {}).get("credential_infos"):
                deletion = UserScramCredentialDeletion(principal, ScramMechanism.SCRAM_SHA_512)
                _check(admin.alter_user_scram_credentials([deletion]),
                       f"removing the login of {principal}")
                done.append(f"login {principal} deleted")
            deleted = admin.delete_acls([_everything_of(principal)])
            count = sum(len(matches) for _, matches, _ in deleted)
            done.append(f"{count} ACLs of {principal} deleted")
    except KafkaError as err:
        raise ServiceError(f"cannot revoke {participant_id}'s broker access: {err!r}") from err
    return done


def access_of(settings: Settings, participant_id: str) -> tuple[bool, int]:
    """(whether the participant has a login, how many ACLs name it)."""
    principal = principal_of(settings, participant_id)
    try:
        with admin_client(settings) as admin:
            known = admin.describe_user_scram_credentials([principal])
            acls, _ = admin.describe_acls(_everything_of(principal))
    except KafkaError as err:
        raise ServiceError(f"cannot read {participant_id}'s broker access: {err!r}") from err
    return bool(known.get(principal, {}).get("credential_infos")), len(acls)

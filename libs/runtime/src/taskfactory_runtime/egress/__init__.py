"""Task egress: the one way ``http`` tasks and ``http`` context sources reach HTTP.

A deployment-wide policy (:class:`EgressSettings`, ``TASKFACTORY_EGRESS__*``) says which
schemes, hosts and networks are reachable; loopback, private, link-local, cloud metadata,
multicast and unspecified addresses are refused unless allowed, checked on the resolved
addresses of every hop. Responses are size-bounded, timeouts capped, credentials redacted.
"""

from taskfactory_runtime.egress.client import (
    Egress,
    EgressResponse,
    GuardedBackend,
    resolve_checked,
)
from taskfactory_runtime.egress.errors import (
    EgressError,
    EgressRefused,
    EgressTimeout,
    EgressUnreachable,
    InvalidRequest,
    ResponseTooLarge,
    application_error,
)
from taskfactory_runtime.egress.policy import (
    REFUSED_NETWORKS,
    EgressPolicy,
    EgressSettings,
    IPAddress,
    IPNetwork,
    is_refused,
    normalise_host,
)
from taskfactory_runtime.egress.redact import redact_url, scrub, secrets_of

__all__ = [
    "REFUSED_NETWORKS",
    "Egress",
    "EgressError",
    "EgressPolicy",
    "EgressRefused",
    "EgressResponse",
    "EgressSettings",
    "EgressTimeout",
    "EgressUnreachable",
    "GuardedBackend",
    "IPAddress",
    "IPNetwork",
    "InvalidRequest",
    "ResponseTooLarge",
    "application_error",
    "is_refused",
    "normalise_host",
    "redact_url",
    "resolve_checked",
    "scrub",
    "secrets_of",
]

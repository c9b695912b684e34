"""The Cloud Map API as this backend uses it: the boto3 ``servicediscovery`` client built on first
use, every call's errors mapped onto :mod:`servregistry.errors` (each naming the region and, where
there is one, the fix), throttling retried in rounds with backoff beyond botocore's own retries,
list calls paged, and asynchronous operations polled together under one deadline."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any, Protocol

from servregistry import errors
from servregistry.backends.base import run_concurrently

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise errors.MissingDependencyError(
        "the Cloud Map backend needs boto3: pip install 'pulumi-servregistry[aws]'"
    ) from exc

__all__ = ["BOTOCORE_ATTEMPTS", "CREDENTIALS_FIX", "THROTTLED_ROUNDS", "CloudMapApi"]

_NOT_FOUND = {
    "NamespaceNotFound",
    "ServiceNotFound",
    "InstanceNotFound",
    "OperationNotFound",
    "ResourceNotFoundException",
}
_EXISTS = {"NamespaceAlreadyExists", "ServiceAlreadyExists"}
#: error codes AWS uses for credentials it does not accept
_CREDENTIALS_REFUSED = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "AccessDenied",
    "AccessDeniedException",
}
#: error codes of Cloud Map's quotas, and what to do about them
_QUOTAS = {
    "ResourceLimitExceeded": "a Cloud Map quota is reached (instances per service: 1,000, not "
    "adjustable; instances per namespace and namespaces per Region: raise them in Service "
    "Quotas), or remove what is no longer needed",
    "TooManyTagsException": "Cloud Map allows at most 50 tags per resource; remove some metadata",
}
#: error codes AWS uses for "slow down"
_THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
}
#: how to give this backend what it needs to sign a request
CREDENTIALS_FIX = (
    "give boto3 credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the "
    "registry's ?profile=NAME naming a profile of ~/.aws/config, or an instance or SSO role), "
    "or point the registry at a local Cloud Map server with ?endpoint_url=URL (which accepts "
    "any credentials)"
)
#: botocore's own attempts per call (transient errors, refused connections, throttling) ...
BOTOCORE_ATTEMPTS = 3
#: ... and how many times we repeat a call that is still throttled after them
THROTTLED_ROUNDS = 4


class ApiConfig(Protocol):
    """What the API layer reads of its registry's configuration (read at each use)."""

    region: str
    endpoint_url: str | None
    profile: str | None
    concurrency: int
    operation_timeout: float
    page_size: int | None


class CloudMapApi:
    """One registry's connection to Cloud Map; ``config`` is the registry (read at each use)."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 ``servicediscovery`` client, built on first use."""
        with self._lock:
            if self._client is None:
                session = boto3.session.Session(
                    profile_name=self.config.profile, region_name=self.config.region
                )
                config = botocore.config.Config(
                    retries={"mode": "standard", "total_max_attempts": BOTOCORE_ATTEMPTS},
                    max_pool_connections=max(10, self.config.concurrency * 2),
                )
                self._client = session.client(
                    "servicediscovery", endpoint_url=self.config.endpoint_url, config=config
                )
            return self._client

    def close(self) -> None:
        """Drop the client; the next call builds a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def call(self, operation: str, **kwargs: Any) -> Any:
        """One API call, errors mapped. botocore retries transient failures a few times; a call
        still throttled after that is repeated ``THROTTLED_ROUNDS`` times with backoff, so a
        busy account slows us down while a refused connection fails in seconds."""
        for round_ in range(1, THROTTLED_ROUNDS + 1):
            try:
                with _mapped(self.config.region):
                    return getattr(self.client, operation)(**kwargs)
            except errors.BackendError as exc:
                if round_ == THROTTLED_ROUNDS or not _throttled(exc):
                    raise
            time.sleep(min(0.5 * 2**round_, 10.0) * random.uniform(0.5, 1.0))

    def pages(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list call, page after page (each page a :meth:`call`)."""
        token = None
        while True:
            page_args = dict(kwargs)
            if self.config.page_size:
                page_args["MaxResults"] = self.config.page_size
            if token:
                page_args["NextToken"] = token
            page = self.call(operation, **page_args)
            yield from page.get(key, [])
            token = page.get("NextToken")
            if not token:
                return

    def wait(self, operation_id: str) -> None:
        """Await one operation: SUCCESS returns, FAIL is a BackendError, the deadline a
        RegistryTimeoutError."""
        failure = self.await_all({operation_id: operation_id}).get(operation_id)
        if failure is not None:
            raise failure

    def await_all(self, operations: Mapping[str, str]) -> dict[str, errors.ServiceRegistryError]:
        """Poll many operations (name → operation id) together, ``concurrency`` at a time, in
        rounds backing off from 50 ms to 2 s, until each is SUCCESS or FAIL or the deadline
        passes; return the failures by name (FAIL: BackendError; deadline:
        RegistryTimeoutError). Nobody waits alone: a thousand endpoints cost a thousand
        requests and then one more per round, not a thousand blocked waits."""
        deadline = time.monotonic() + self.config.operation_timeout
        delay = 0.05
        pending = dict(operations)
        failures: dict[str, errors.ServiceRegistryError] = {}
        statuses: dict[str, str] = {}
        while pending:
            tasks = {n: partial(self._check, op, n, statuses) for n, op in pending.items()}
            failures.update(run_concurrently(self.config.concurrency, tasks, "awaiting operations"))
            pending = {
                n: op
                for n, op in pending.items()
                if n not in failures and statuses.get(n) != "SUCCESS"
            }
            if pending and time.monotonic() + delay > deadline:
                for name, operation_id in pending.items():
                    failures[name] = errors.RegistryTimeoutError(
                        f"Cloud Map operation {operation_id} still {statuses.get(name)} after "
                        f"{self.config.operation_timeout:g} s"
                    )
                break
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        return failures

    def _check(self, operation_id: str, name: str, statuses: dict[str, str]) -> None:
        """One poll: record the operation's status under ``name``; FAIL is a BackendError."""
        operation = self.call("get_operation", OperationId=operation_id)["Operation"]
        status = statuses[name] = str(operation.get("Status"))
        if status == "FAIL":
            raise errors.BackendError(
                f"Cloud Map operation {operation_id} failed: "
                f"{operation.get('ErrorCode', 'UNKNOWN')}: {operation.get('ErrorMessage', '')}"
            )

    def tags(self, arn: str) -> dict[str, str]:
        tags = self.call("list_tags_for_resource", ResourceARN=arn).get("Tags", [])
        return {t["Key"]: t["Value"] for t in tags}

    def set_tags(self, arn: str, metadata: dict[str, str]) -> None:
        """Make the resource's tags exactly ``metadata``: untag the removed keys first, then tag
        the new and changed ones, so the resource never holds more tags than the larger of
        before and after (Cloud Map refuses a 51st tag with TooManyTagsException: replacing
        50 tags by adding first would ask for 99 at once)."""
        current = self.tags(arn)
        changed = [{"Key": k, "Value": v} for k, v in metadata.items() if current.get(k) != v]
        removed = [k for k in current if k not in metadata]
        if removed:
            self.call("untag_resource", ResourceARN=arn, TagKeys=removed)
        if changed:
            self.call("tag_resource", ResourceARN=arn, Tags=changed)


def _throttled(exc: errors.ServiceRegistryError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, botocore.exceptions.ClientError) and (
        cause.response.get("Error", {}).get("Code") in _THROTTLED
    )


#: botocore errors that say credentials, a region or a profile are missing or unusable
_SETUP_ERRORS: tuple[type[Exception], ...] = tuple(
    getattr(botocore.exceptions, name)
    for name in (
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "TokenRetrievalError",
        "SSOTokenLoadError",
        "UnauthorizedSSOTokenError",
        "NoAuthTokenError",
    )
    if hasattr(botocore.exceptions, name)
)


@contextmanager
def _mapped(region: str) -> Iterator[None]:
    """botocore errors → the servregistry error tree (the raw error as ``__cause__``); each
    message names the registry and, where there is one, the fix."""
    where = f"Cloud Map ({region})"
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = f"{where}: {code}: {error.get('Message', '')}"
        if code in _NOT_FOUND:
            raise errors.NotFoundError(message) from exc
        if code in _EXISTS:
            raise errors.AlreadyExistsError(message) from exc
        if code == "ResourceInUse":
            raise errors.NotEmptyError(message) from exc
        if code == "InvalidInput":
            raise errors.InvalidInputError(message, field="registry", rule=message) from exc
        if code in _QUOTAS:
            raise errors.BackendError(f"{message}; {_QUOTAS[code]}") from exc
        if code in _CREDENTIALS_REFUSED:
            raise errors.BackendError(
                f"{message}; the credentials were refused: {CREDENTIALS_FIX}"
            ) from exc
        raise errors.BackendError(message) from exc
    except (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError) as exc:
        raise errors.RegistryTimeoutError(f"{where}: {exc}") from exc
    except botocore.exceptions.EndpointConnectionError as exc:
        raise errors.RegistryUnavailableError(f"{where}: {exc}") from exc
    except botocore.exceptions.ProfileNotFound as exc:
        raise errors.BackendError(
            f"{where}: {exc}: name a profile of ~/.aws/config (or ~/.aws/credentials) in the "
            "registry's ?profile=NAME or AWS_PROFILE, or drop the option to use the default chain"
        ) from exc
    except (botocore.exceptions.NoRegionError, botocore.exceptions.InvalidRegionError) as exc:
        raise errors.BackendError(
            f"{where}: {exc}: name an AWS region in the registry URL, cloudmap://REGION "
            "(e.g. cloudmap://eu-west-1)"
        ) from exc
    except _SETUP_ERRORS as exc:
        raise errors.BackendError(f"{where}: {exc}: {CREDENTIALS_FIX}") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise errors.BackendError(f"{where}: {exc}") from exc
    except UnicodeError as exc:
        raise errors.InvalidInputError(
            field="registry",
            rule=f"{where}: a name or value is not valid Unicode text and cannot be sent ({exc})",
        ) from exc

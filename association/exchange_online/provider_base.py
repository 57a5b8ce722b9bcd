"""What every Exchange dynamic provider shares: where it connects, and what it checks first.

What `pulumi.dynamic` does with a provider (pulumi/pulumi sdk/python/lib/pulumi/dynamic):
`Resource.__init__` pickles the provider object with dill (`serialize_provider`,
`recurse=True`) into the `__provider` input, stored in state; the provider host (`python -m
pulumi.dynamic`, `__main__.py` `get_provider`) unpickles it for every Check, Diff, Create,
Read, Update and Delete, also in `destroy` and `refresh`, which do not run the program. A class
from an importable module is pickled by reference, so the blob names this module and the host
imports it from the project directory (the CLI starts plugins there: sdk/go/common/resource/
plugin/plugin.go `ExecPlugin`, `cmd.Dir = pwd`; `python -m` puts it on `sys.path`). So a
provider holds no attributes but `connect`, None outside tests: the token, the client and the
sign-in are made at operation time, and `serialize_as_secret_always` is off because the blob
holds nothing secret (a secret Output captured would still make it secret).

A dynamic provider cannot send the engine a warning, but the engine shows every line a dynamic
provider writes to stderr as a diagnostic (pulumi/pulumi sdk/go/common/resource/plugin/
plugin.go, `runtrace`: `ctx.Diag.Infoerrf` for the error stream, since `isDynamicPluginBinary`
keeps its output visible), so `report` prints Exchange's warnings and ours there.

Every name here is fixed (the allow list's entry, a scope's or an assignment's name, the
pointer's object ID), so each replacement deletes the old object first
(`DiffResult.delete_before_replace`, which the Python host passes as `deleteBeforeReplace`:
sdk/python/lib/pulumi/dynamic/__main__.py `Diff`; the engine honours it unless the program sets
the option itself, pkg/resource/deploy/step_generator.go): created first, the new object would
be the old one, and the old one's delete would then remove it.
"""

from __future__ import annotations

import pickle
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Final

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, Resource, ResourceProvider
from pulumi.runtime.rpc import UNKNOWN

from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.endpoint import check_endpoint
from association.exchange_online.signin import shared_tokens
from association.identifiers import is_guid

Connect = Callable[[str, str, str], ExchangeAdminClient]
"""(endpoint, authority, tenant ID) -> a client for that tenant."""

CONNECTION_KEYS: Final = ("tenantId", "endpoint", "authority")
AUTHORITY: Final = re.compile(r"[a-z0-9.-]{1,253}")


def connect(endpoint: str, authority: str, tenant_id: str) -> ExchangeAdminClient:
    """A client for one tenant, signed in with the run's identity (one token per tenant)."""
    return ExchangeAdminClient(endpoint, tenant_id, shared_tokens(authority))


class ExchangeProvider(ResourceProvider):
    """Base of the Exchange Online providers: `connect` is for tests only."""

    serialize_as_secret_always = False
    GUID_KEYS: tuple[str, ...] = ("tenantId",)
    """Inputs that must be GUIDs (or unknown, in a preview)."""

    def __init__(self, connect: Connect | None = None) -> None:
        super().__init__()
        self.connect = connect

    def client(self, props: Mapping[str, Any]) -> ExchangeAdminClient:
        opener = self.connect or connect
        return opener(props["endpoint"], props["authority"], props["tenantId"])

    @contextmanager
    def connected(self, props: Mapping[str, Any]) -> Iterator[ExchangeAdminClient]:
        """A client for the operation; what it was warned about is printed when it ends, also
        when it fails."""
        client = self.client(props)
        try:
            yield client
        finally:
            report(client.warnings)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, input_failures(news, self.GUID_KEYS))


def input_failures(news: Mapping[str, Any], guid_keys: tuple[str, ...]) -> list[CheckFailure]:
    """Every wrong input at once; a value still unknown in a preview is not judged."""
    failures = []
    for key in guid_keys:
        value = news.get(key)
        if value != UNKNOWN and not (isinstance(value, str) and is_guid(value)):
            failures.append(CheckFailure(key, f"{key} must be a GUID, not {value!r}"))
    endpoint, authority = news.get("endpoint"), news.get("authority")
    try:
        check_endpoint(endpoint if isinstance(endpoint, str) else "")
    except ValueError as error:
        failures.append(CheckFailure("endpoint", str(error)))
    if not (isinstance(authority, str) and AUTHORITY.fullmatch(authority)):
        failures.append(CheckFailure("authority", f"authority must be a host name: {authority!r}"))
    return failures


def report(warnings: list[str]) -> None:
    """Each warning as one stderr line, which `pulumi up` shows (see the module's docstring)."""
    for text in warnings:
        print(f"warning: {text}", file=sys.stderr, flush=True)


def replacing(
    olds: Mapping[str, Any], news: Mapping[str, Any], keys: tuple[str, ...], drifted: bool
) -> DiffResult:
    """The diff of an object with a fixed name: the inputs among `keys` whose change means
    another object replace it, the old one deleted first."""
    replaces = [key for key in keys if olds.get(key) != news.get(key)]
    return DiffResult(
        changes=bool(replaces) or drifted,
        replaces=replaces,
        delete_before_replace=True if replaces else None,
    )


PATCHED_BY_PULUMI: Final = ("_batch_setitems", "save_dict")
"""What `serialize_provider` replaces on `pickle._Pickler` (see `pickler_kept`)."""


@contextmanager
def pickler_kept() -> Iterator[None]:
    """`pickle._Pickler` as it was once the provider is serialized.

    pulumi's `serialize_provider` (sdk/python/lib/pulumi/dynamic/dynamic.py, 3.272 and main
    as of August 2026) replaces `pickle._Pickler._batch_setitems` and `save_dict` on every call
    and never puts them back, each new wrapper calling the last: one process that registers a
    few hundred dynamic resources (a program with many associations, or preflight over many
    stacks) ends in RecursionError. Undone after each of ours.
    """
    pure: Any = pickle._Pickler  # private: the pure-Python pickler dynamic.py patches
    saved = {name: pure.__dict__[name] for name in PATCHED_BY_PULUMI}
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(pure, name, value)


class ExchangeResource(Resource):
    """A dynamic resource of one provider class; `OUTPUTS` are what its provider adds."""

    PROVIDER: ClassVar[type[ExchangeProvider]]
    OUTPUTS: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        name: str,
        inputs: Mapping[str, pulumi.Input[str] | bool],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {**inputs, **dict.fromkeys(self.OUTPUTS)}
        with pickler_kept():  # the provider is serialized here, synchronously
            super().__init__(self.PROVIDER(), name, props, opts)

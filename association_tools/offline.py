"""Run the real `__main__.py` in-process under the Pulumi SDK's mock engine.

This is how the program is tested and how `preflight` shows a plan without the Pulumi
CLI, a provider plugin or Azure: the SDK's documented unit-test engine
(`pulumi.runtime.set_mocks`) stands in for the deployment engine, and a `Directory`
answers the program's tenant lookups. Each run happens in its own copy of the
context, so no config, root stack or export leaks from one run into the next. What this
needs of the SDK beyond its documented API goes through `association_tools.pulumi_sdk`.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import pulumi

from association.clock import evaluated_at
from association.identifiers import (
    EXCHANGE_ONLINE_APP_ID,
    FULL_ACCESS_AS_APP,
    FULL_ACCESS_AS_APP_ROLE_ID,
    NAMESPACE,
)
from association.problems import Notice, Problem
from association.refusal import Refusal, collecting_notices
from association_tools import pulumi_sdk


class KnownAfterDeploy:
    """A value the engine learns only when `pulumi up` creates the resource."""

    def __repr__(self) -> str:
        return "(known after deploy)"


KNOWN_AFTER_DEPLOY = KnownAfterDeploy()


@dataclass(frozen=True)
class DynamicProvider:
    """A dynamic resource's serialized provider (a pickle), shown only by the class it names."""

    path: str
    """`module.Class`, e.g. `association.exchange_online.ews_access.EwsAccessProvider`; empty
    when the blob names no class (pickled by value, or unreadable)."""

    def __repr__(self) -> str:
        return f"(dynamic provider {self.path or 'not pickled by reference'})"


AZURE_CLI_APP_ID: Final = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
"""What `get_client_config` reports as client ID for anyone signed in with `az login`
(terraform-provider-azuread internal/clients/builder.go, `Build`: go-azure-sdk's
`PublishedApis["MicrosoftAzureCli"]`), a person or not."""


@dataclass(frozen=True)
class Directory:
    """How the tenant answers the program's lookups (`get_client_config` and friends)."""

    tenant_id: str
    deployer_object_id: str
    exchange_service_principal_id: str | None
    """None: the tenant has no Exchange Online service principal."""
    initial_domain: str | None
    """None: the tenant reports no initial *.onmicrosoft.com domain."""
    full_access_role_id: str = FULL_ACCESS_AS_APP_ROLE_ID
    denied: frozenset[str] = frozenset()
    """Lookups (e.g. `getDomains`) the deploying identity lacks the Graph permission for."""
    deployer_client_id: str = AZURE_CLI_APP_ID
    """The client ID the deployer signs in with: the Azure CLI's for a person."""
    app_only: bool = False
    """The deployer signs in as its own service principal (a pipeline identity): the service
    principal of `deployer_client_id` is the deployer itself."""
    applications: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The applications a lookup by object ID finds, each with its owners' object IDs."""

    def answer(self, token: str, args: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        """The invoke result (camelCase, as the provider returns it) and its failures."""
        if token.rsplit(":", 1)[-1] in self.denied:
            reason = (
                "Authorization_RequestDenied: Insufficient privileges to complete the operation."
            )
            return {}, [("", reason)]
        if token == "azuread:index/getClientConfig:getClientConfig":
            return {
                "clientId": self.deployer_client_id,
                "objectId": self.deployer_object_id,
                "tenantId": self.tenant_id,
                "id": self.tenant_id,
            }, []
        if token == "azuread:index/getServicePrincipal:getServicePrincipal":
            return self._service_principal(str(args.get("clientId")))
        if token == "azuread:index/getApplication:getApplication":
            object_id = str(args.get("objectId"))
            if object_id not in self.applications:  # the provider's data source, on a 404
                return {}, [("objectId", f"Application with object ID {object_id!r} was not found")]
            owners = list(self.applications[object_id])
            return {"objectId": object_id, "id": f"/applications/{object_id}", "owners": owners}, []
        if token == "azuread:index/getDomains:getDomains":
            if self.initial_domain is None:  # as the provider answers: an error, not a []
                return {}, [("", "no domains found for the provided filters")]
            domains = [{"domainName": self.initial_domain, "initial": True, "default": False}]
            return {"domains": domains}, []
        raise LookupError(f"the offline engine does not answer {token}")

    def _service_principal(self, client_id: str) -> tuple[dict[str, Any], list[Any]]:
        """Exchange Online's, the deployer's own (app-only) or its app's (a person through the
        Azure CLI); any other is not found, as the provider's data source says it."""
        if client_id == EXCHANGE_ONLINE_APP_ID and self.exchange_service_principal_id:
            return {
                "objectId": self.exchange_service_principal_id,
                "clientId": client_id,
                "appRoleIds": {FULL_ACCESS_AS_APP: self.full_access_role_id},
            }, []
        if client_id == self.deployer_client_id:
            own = (
                self.deployer_object_id
                if self.app_only
                else str(uuid.uuid5(NAMESPACE_SP, client_id))
            )
            return {"objectId": own, "clientId": client_id, "appRoleIds": {}}, []
        reason = f"no service principals found matching filter: \"appId eq '{client_id}'\""
        return {}, [("clientId", f"Service principal not found: {reason}")]


NAMESPACE_SP: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mimecast-association:offline:sp")
"""Invents the object ID of another app's service principal (the Azure CLI's) in a tenant."""


@dataclass(frozen=True)
class DeclaredResource(pulumi_sdk.Registration):
    """One resource registration, as the deployment engine would receive it, with its URN."""

    urn: str


@dataclass
class ProgramRun:
    """What one run of the program declared, exported, warned about, or why it stopped."""

    resources: list[DeclaredResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """Warnings as Pulumi would print them (what the engine's log received)."""
    notices: list[Notice] = field(default_factory=list)
    """The program's own warnings, as data (`association.refusal.warn`)."""
    error: str | None = None
    """Why the program stopped, as Pulumi would print it; None when it ran to the end."""
    refusal: tuple[Problem, ...] = ()
    """When the program refused (a `Refusal`): its problems, as data."""


class _Engine(pulumi.runtime.Mocks):
    """Answers lookups from a `Directory`; in a deploy, invents IDs like a provider would."""

    def __init__(self, directory: Directory, preview: bool) -> None:
        self.directory = directory
        self.preview = preview

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return self.directory.answer(args.token, args.args)

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        """In a preview only an adopted object is known (an import reads it: its IDs are the
        import ID's); in a deploy every object gets IDs, invented as a provider would."""
        if not args.custom or (self.preview and not args.resource_id):
            return None, dict(args.inputs)
        if args.resource_id:
            object_id, resource_id = args.resource_id.rsplit("/", 1)[-1], args.resource_id
        else:
            object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{args.typ}::{args.name}"))
            resource_id = object_id
        # An input of that name stays: a dynamic resource (the Exchange pointer) echoes its own.
        outputs = {"objectId": object_id, **args.inputs}
        if args.typ == "azuread:index/application:Application":
            resource_id = f"/applications/{object_id}"
            if not self.preview:  # only the tenant knows an adopted app's client ID
                outputs["clientId"] = str(uuid.uuid5(uuid.NAMESPACE_OID, args.name))
        return resource_id, outputs


class _Log(logging.Handler):
    """The mock engine's log: what `pulumi up` would print as warnings."""

    def __init__(self, run: ProgramRun) -> None:
        super().__init__(level=logging.WARNING)
        self.run = run

    def emit(self, record: logging.LogRecord) -> None:
        self.run.warnings.append(record.getMessage())


@cache
def _compiled(main: Path) -> Any:
    """Compile `__main__.py` once per process: hundreds of stacks share one program."""
    return compile(main.read_text(encoding="utf-8"), str(main), "exec")


def run_program(
    main: Path,
    stack: str,
    config: Mapping[str, str],
    directory: Directory,
    *,
    preview: bool,
    now: datetime,
) -> ProgramRun:
    """Run the program at `main` for one stack, isolated from every other run."""
    return contextvars.copy_context().run(
        _run_isolated, main, stack, dict(config), directory, preview, now
    )


def _run_isolated(
    main: Path,
    stack: str,
    config: dict[str, str],
    directory: Directory,
    preview: bool,
    now: datetime,
) -> ProgramRun:
    run = ProgramRun()
    logger = logging.Logger(f"{NAMESPACE}.{stack}", level=logging.WARNING)
    logger.addHandler(_Log(run))
    mocks = _Engine(directory, preview)
    pulumi.runtime.reset_options()
    pulumi.runtime.set_mocks(
        mocks,
        project=NAMESPACE,
        stack=stack,
        preview=preview,
        logger=logger,
        monitor=pulumi_sdk.recording_monitor(
            mocks,
            lambda declared, urn: run.resources.append(DeclaredResource(**vars(declared), urn=urn)),
        ),
    )
    pulumi.runtime.set_all_config(config)
    program = _compiled(main.resolve())

    async def outputs() -> None:
        run.outputs.update(_mark_unknowns(await pulumi_sdk.stack_outputs()))

    def execute() -> Any:
        exec(program, {"__name__": "__main__", "__file__": str(main.resolve())})
        return outputs()

    with evaluated_at(now), collecting_notices() as notices:
        try:
            pulumi.runtime.test(execute)()  # type: ignore[no-untyped-call]
        except pulumi.RunError as error:
            run.error = str(error)
            run.refusal = error.problems if isinstance(error, Refusal) else ()
        run.notices = notices
    for resource in run.resources:
        resource.inputs.update(_mark_unknowns(_provider_named(resource.inputs)))
    return run


def _provider_named(inputs: dict[str, Any]) -> dict[str, Any]:
    """A dynamic resource's inputs with its pickled provider replaced by the class it names:
    no plan, report or test ever holds the pickle."""
    path = pulumi_sdk.dynamic_provider(inputs)
    if path is None:
        return inputs
    return {**inputs, pulumi_sdk.PROVIDER_KEY: DynamicProvider(path)}


def _mark_unknowns(value: Any) -> Any:
    """Replace the SDK's unknown placeholders with `KNOWN_AFTER_DEPLOY`; unwrap secrets."""
    if pulumi_sdk.is_unknown(value):
        return KNOWN_AFTER_DEPLOY
    secret, value = pulumi_sdk.unwrap_secret(value)
    if secret:
        return _mark_unknowns(value)
    if isinstance(value, dict):
        return {key: _mark_unknowns(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark_unknowns(item) for item in value]
    return value

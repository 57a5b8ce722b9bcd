"""The guardrails of the mimecast-association stack, one rule per module, as plain functions.

Each rule module holds one rule, its `CODE` (the policy's stable name) and its `RULE`;
`registry` lists them in the order the pack serves them. A rule takes what the Pulumi
engine hands a policy pack (a resource's type and its camelCase properties, or every
resource of the stack) and returns `model.Violation`s: data, which only `__main__.py`
turns into the engine's message and URN. Nothing here imports `pulumi_policy`, so the
project's tests call the rules directly in the program's own environment (protobuf 6,
no pulumi-policy).

Unknown values (during `pulumi preview`, outputs of resources not created yet) never
cause a violation: a rule checks what is known and skips what is not (see `values`).

Modules import each other relatively: the Pulumi CLI runs the pack with its directory
first on sys.path (this package is `rules`), the project's tests import it from the
repository root (`policy.rules`).
"""

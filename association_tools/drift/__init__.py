"""Drift report: classify `pulumi preview --refresh --json` output, one file per tenant stack.

Each stack is `no-change`, `drift` or `error`; `python -m association drift --help` has the
usage and exit statuses. One job a module, so each can change alone: `preview` reads Pulumi's
document, `resources` finds what drifted, `errors` sorts what failed, `classify` decides,
`render` writes text, Markdown and JSON, `cli` is the command. Nothing from the Pulumi SDK
(tests/test_drift.py starts it in a process of its own and checks), so the report starts fast
and runs where the SDK is not installed; it needs the standard library and `cryptography`
(through `association.redaction`, which keeps key material out of the messages it shows).
"""

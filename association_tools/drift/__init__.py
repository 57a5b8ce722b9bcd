"""Drift report: classify `pulumi preview --refresh --json` output, one file per tenant stack.

Each stack is `no-change`, `drift` or `error`; `python -m association drift --help` has the
usage and exit statuses. One job a module, so each can change alone: `preview` reads Pulumi's
document, `classify` decides, `render` writes text, Markdown and JSON, `cli` is the command.
Nothing from Pulumi (the standard library, and the product's pure `association.problems` for
the refusal's format), so the report runs (and is tested) without the Pulumi SDK.
"""

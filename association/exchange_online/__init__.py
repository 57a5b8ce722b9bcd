"""Exchange Online's side of the association, as code: its admin endpoint and the resources.

`endpoint`, `client` and `signin` talk to the admin REST endpoint that the
ExchangeOnlineManagement 3.x module's cmdlets call (`POST {endpoint}/adminapi/beta/{tenant}/
InvokeCommand`): Microsoft's own module endpoint, not a documented API. `allow_list`,
`ews_access`, `rbac` and `declare` are the Pulumi dynamic resources built on it.

Module and class names here are stored in every stack's state: a dynamic provider is pickled
by reference (`association.exchange_online.ews_access.EwsAccessProvider`), so renaming one
breaks `pulumi destroy` and `refresh` of stacks deployed before the rename.
"""

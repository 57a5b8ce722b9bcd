"""Security audit: the live application and service principal against what each stack declares.

`pulumi preview --refresh` cannot see most of what an attacker would add to an app holding
`full_access_as_app` (a secret, a certificate, a federated credential, a grant on the service
principal); this reads them from Microsoft Graph v1.0. One job a module: `inputs` (stack files
and outputs), `graph` (HTTP, batching, paging, retries), `live` (what to ask Graph),
`tenant` (the answers, typed), `compare` (findings), `render` (text, Markdown, JSON), `cli`
(the command). Standard library HTTP; azure-identity only to sign in, imported only when no
token is given.
"""

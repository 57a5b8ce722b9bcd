"""Security audit: the live application and service principal against what each stack declares.

`pulumi preview --refresh` cannot see most of what an attacker would add to an app holding
`full_access_as_app` (a secret, a certificate, a federated credential, a grant on the
service principal, a directory role, a look-alike, an Exchange role); this reads them from
Microsoft Graph v1.0 and, when asked, from Exchange Online. One job a module: `inputs`
(stack files and outputs), `transport` (one POST within a tenant's deadline and byte
budget), `graph` (batching, paging, retries), `live` (what to ask Graph), `answers` and
`tenant` (the answers, typed), `compare` and `exposure` (findings), `exchange` (what to ask
Exchange Online, through the product's admin client, typed), `exchange_findings` (its
findings), `exchange_side` (one tenant's Exchange step within its budget), `render` (text,
Markdown, JSON), `progress` (stderr), `signin` (tokens), `cli` (the command). Standard
library HTTP; azure-identity only to sign in, imported only when no token is given.
"""

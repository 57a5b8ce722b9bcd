"""Operations tools around the Mimecast association: what an operator runs, never `pulumi up`.

`python -m association preflight|drift|audit` run `association_tools.commands` (through
`association/__main__.py`, which `pulumi up` never runs). This package imports the product
(`association`); nothing `pulumi up` loads imports it, so a change here deploys no tenant.
"""

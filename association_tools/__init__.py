"""Operations tools around the Mimecast association: what an operator runs, never `pulumi up`.

`python -m association preflight|drift` dispatch here. This package imports the product
(`association`), and the product never imports it, so a change here deploys no tenant.
"""

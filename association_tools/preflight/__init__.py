"""`python -m association preflight`: check tenant stacks offline and show what `pulumi up` does.

Modules by job: `check` (read one stack, run the program's checks and the program itself
under the mock engine), `stacks` (every stack, each on its own), `plan` (turn a run into a
plan that invents nothing), `report` (the data a report holds), `summary` (the fleet at a
glance: the notices every stack shares, each stack's own), `fleet_view` (one line or table
row per stack), `render` (text and JSON), `cli` (flags and exit status).
"""

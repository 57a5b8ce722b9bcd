"""`python -m association COMMAND`: forwards to the operators' commands in `association_tools`.

The one module of the product that imports the tools, and safely so: `pulumi up` runs the
project's root `__main__.py` (Pulumi's Python host, sdk/python/cmd/pulumi-language-python-exec,
calls `runpy.run_path(PROGRAM)` on the project directory) and imports this package's modules,
never this one, which only `python -m association` runs. tests/test_layout.py names it as the
exception and keeps it a forwarder.
"""

from __future__ import annotations

import sys

from association_tools.commands import main

if __name__ == "__main__":
    sys.exit(main())

"""`python -m association preflight [STACK ...]`: flags, stack selection and exit status.

Exit status: 0 no stack has errors (warnings allowed), 1 some stack has errors, 2 usage error.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from association.clock import current_time
from association.identifiers import is_guid
from association.text import visible
from association_tools import cli, options
from association_tools.cli import UsageError
from association_tools.preflight.fleet_view import render_markdown
from association_tools.preflight.render import render_json, render_text
from association_tools.preflight.stacks import check_stacks
from association_tools.preflight.summary import summarize
from association_tools.project import Project, load_project

PROG: Final = "python -m association preflight"
EXIT_OK: Final = 0
EXIT_ERRORS: Final = 1

EXAMPLES: Final = """examples:
  venv/bin/python -m association preflight example   the shipped example stack, in full
  venv/bin/python -m association preflight --exclude example --require-owners --jobs 2
                                                     every tenant, one line each, as the
                                                     pipelines run it
  venv/bin/python -m association preflight --markdown "$GITHUB_STEP_SUMMARY"
                                                     the same as a table in a job summary
  venv/bin/python -m association preflight contoso --now 2027-01-15 --json contoso.json
                                                     one stack, judged on deploy day; the text
                                                     report on stdout, the JSON in a file
  venv/bin/python -m association preflight --json - | jq .summary
                                                     the JSON alone on stdout"""


EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
"""`--now` asks "on the day I deploy": any day this century, not the edges of the calendar."""


def parse_now(text: str) -> datetime:
    """`--now`: an ISO 8601 date or timestamp; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise UsageError(
            f"--now {visible(repr(text))} is not an ISO 8601 date or timestamp (e.g. 2026-12-01 "
            "or 2026-12-01T09:00:00Z)"
        ) from None
    if not EARLIEST <= moment < LATEST:
        raise UsageError(
            f"--now {visible(repr(text))} is outside {EARLIEST.year}-{LATEST.year - 1}: give the "
            "day you plan to deploy"
        )
    return moment


def select_stacks(
    project: Project, names: Sequence[str], excluded: Sequence[str] = ()
) -> list[str]:
    """The stacks asked for (all but `excluded` when none are named).

    An unknown name is a usage error; an unknown exclusion is not, so pipelines can always
    exclude the shipped example stack, whether or not a repository still has it.
    """
    known = ", ".join(project.stacks) or "none"
    if not names:
        if not project.stacks:
            raise UsageError(f"no stack files (Pulumi.<stack>.yaml) in {project.directory}")
        return [stack for stack in project.stacks if stack not in excluded]
    unknown = [name for name in names if name not in project.stacks]
    if unknown:
        raise UsageError(
            f"unknown stack {', '.join(unknown)}: no Pulumi.<stack>.yaml for it in "
            f"{project.directory.resolve()} (stacks: {known})"
        )
    return list(dict.fromkeys(names))


def _object_id(text: str) -> str:
    if not is_guid(text):
        raise argparse.ArgumentTypeError("must be an object ID (a GUID)")
    return text.lower()


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check tenant stacks offline (no network, no credentials, no Pulumi CLI) and "
        "show what `pulumi up` would create and grant in each tenant. Exit status: 0 no stack "
        "has errors, 1 some stack has errors, 2 usage error.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "stacks", nargs="*", metavar="STACK", help="stacks to check (default: every stack file)"
    )
    options.add_json(parser, "every stack's report, the summary first")
    options.add_markdown(parser, "one table row per stack")
    parser.add_argument(
        "--plan",
        action="store_true",
        help="show every stack's certificates, plan and Exchange Online PowerShell (default: "
        "only the stacks named on the command line; the others get one line each)",
    )
    parser.add_argument(
        "--now",
        metavar="TIMESTAMP",
        help="judge certificates at this instant instead of now, e.g. the day you deploy",
    )
    parser.add_argument(
        "--exclude",
        metavar="STACK",
        action="append",
        default=[],
        help="leave this stack out when checking every stack (repeatable), e.g. example",
    )
    parser.add_argument(
        "--require-owners",
        action="store_true",
        help="an error for every stack that leaves owners unset (pipelines use this)",
    )
    parser.add_argument(
        "--deployer",
        metavar="OBJECT_ID",
        type=_object_id,
        help="object ID of the identity that runs pulumi up in the tenant: an error for every "
        "stack whose owners leave it out (with Application.ReadWrite.OwnedBy it locks itself out)",
    )
    parser.add_argument(
        "--jobs",
        metavar="N",
        type=options.at_least_one,
        default=1,
        help="check stacks in N worker processes (default 1: all in this process); each "
        "worker starts its own Python, so it pays from a few dozen stacks",
    )
    options.add_project_dir(parser)
    return parser


def preflight(args: argparse.Namespace) -> int:
    now = parse_now(args.now) if args.now is not None else current_time()
    project = load_project(args.project_dir)
    stacks = select_stacks(project, args.stacks, args.exclude)
    reports = check_stacks(project, stacks, now, args.jobs, args.require_owners, args.deployer)
    detailed = None if args.plan else set(args.stacks)
    cli.publish(
        reports,
        lambda done: render_text(done, now, detailed),
        (args.json, lambda done: render_json(done, now) + "\n"),
        (args.markdown, lambda done: render_markdown(summarize(done), done, now)),
    )
    return EXIT_ERRORS if any(report.errors for report in reports) else EXIT_OK


def main(argv: Sequence[str]) -> int:
    """Run the preflight; see the module docstring for the exit status."""
    return cli.run(parser(), preflight, argv)

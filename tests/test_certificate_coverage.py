"""Whether a `certificates` list keeps Mimecast signed in from now on (docs/rotation.md).

The pure rule behind `certificates-none-valid-now` and `certificate-gap`, which the program,
preflight and `scripts/rotate.py retire` all apply.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from certfactory import NOW, make_certificate, pem, rsa_key

from association.certificate_checks import (
    certificates_problems,
    coverage_gaps,
    coverage_problems,
    pending_warnings,
    valid_now,
)
from association.certificates import Certificate, parse_certificate, rfc3339

KEY = "mimecast-association:certificates"
SERIALS = count(1)


def cert(name: str, starts: float, ends: float, bits: int = 2048) -> Certificate:
    """A certificate valid from `starts` to `ends` days from NOW, listed under `name`."""
    made = make_certificate(
        name,
        NOW + timedelta(days=starts),
        NOW + timedelta(days=ends),
        key=rsa_key(bits),
        serial=next(SERIALS),
    )
    return parse_certificate(pem(made), name, KEY)


def pairs(certificates: list[Certificate]) -> list[tuple[str, str, int]]:
    return [
        (gap.before.source, gap.after.source, gap.days) for gap in coverage_gaps(certificates, NOW)
    ]


def codes(certificates: list[Certificate]) -> list[str]:
    return [problem.code for problem in certificates_problems(certificates, KEY, NOW)]


def test_valid_now_from_not_before_up_to_not_after() -> None:
    assert valid_now(cert("a", 0, 10), NOW)  # from its first second
    assert not valid_now(cert("b", -10, 0), NOW)  # expired at NotAfter
    assert not valid_now(cert("c", 1 / 86400, 10), NOW)
    assert not valid_now(cert("weak", -10, 10, bits=1024), NOW)  # Entra ID takes no such key


def test_a_lone_certificate_that_starts_in_20_days_is_an_error_with_the_fix() -> None:
    future = cert("future", 20, 400)
    (problem,) = certificates_problems([future], KEY, NOW)

    assert (problem.code, problem.setting) == ("certificates-none-valid-now", KEY)
    assert problem.message.startswith(f"{KEY} lists no certificate valid now ({rfc3339(NOW)})")
    assert f"{future.describe()}, is valid from {future.start_date} (in 20 days)" in (
        problem.message
    )
    assert "List Mimecast's current certificate beside it" in problem.message
    assert f"or deploy no earlier than {future.start_date}." in problem.message
    assert pending_warnings([future], NOW) == []  # the error says it; no warning besides


def test_the_successor_added_early_is_the_normal_rotation() -> None:
    current, successor = cert("current", -300, 60), cert("successor", 30, 400)
    assert certificates_problems([current, successor], KEY, NOW) == []
    (warning,) = pending_warnings([current, successor], NOW)
    assert warning.code == "certificate-not-yet-valid"


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        ([("a", -30, 100)], []),
        ([("a", -30, 100), ("b", 100, 400)], []),  # b starts the instant a ends
        ([("a", -30, 100), ("b", 90, 400)], []),  # overlapping
        ([("b", 90, 400), ("a", -30, 100)], []),  # in any order
        ([("a", -30, 19), ("b", 30, 400)], [("a", "b", 11)]),
        ([("b", 30, 400), ("a", -30, 19)], [("a", "b", 11)]),
        # b ends inside a: the gap is a's end to c's start, none after b's end.
        ([("a", -30, 100), ("b", 10, 60), ("c", 80, 400)], []),
        ([("c", 110, 400), ("b", 10, 60), ("a", -30, 100)], [("a", "c", 10)]),
        ([("a", -30, 10), ("b", 20, 30), ("c", 40, 50)], [("a", "b", 10), ("b", "c", 10)]),
        ([("a", -30, 10), ("b", 10 + 3 / 24, 400)], [("a", "b", 1)]),  # three hours: a day
        ([("old", -400, -10), ("b", 20, 400)], []),  # an expired one covers nothing from now
        ([("weak", -30, 100, 1024), ("a", -30, 10), ("b", 20, 400)], [("a", "b", 10)]),
    ],
    ids=[
        "one",
        "touching",
        "overlapping",
        "unordered",
        "gap",
        "gap-unordered",
        "contained",
        "contained-then-gap",
        "two-gaps",
        "hours",
        "expired",
        "weak-key-covers-nothing",
    ],
)
def test_gaps(listed: list[tuple[str, float, float]], expected: list[tuple[str, str, int]]) -> None:
    assert pairs([cert(*entry) for entry in listed]) == expected


def test_a_gap_is_an_error_naming_both_certificates_the_dates_and_the_fix() -> None:
    old, new = cert("old", -300, 19), cert("new", 30, 400)
    (problem,) = certificates_problems([new, old], KEY, NOW)

    assert (problem.code, problem.setting) == ("certificate-gap", KEY)
    assert problem.message.startswith(
        f"{KEY} leaves a gap of 11 days, from {old.end_date} to {new.start_date}, in which no "
        "listed certificate is valid and Mimecast cannot sign in: "
    )
    assert f"{old.describe()} expires on {old.end_date}" in problem.message
    assert f"the next, {new.describe()}, starts on {new.start_date}" in problem.message
    assert f"Ask Mimecast for a successor that starts before {old.end_date}" in problem.message


def test_only_future_certificates_say_none_valid_now_then_each_later_gap() -> None:
    """The wait until the first one starts is the none-valid error, not a gap from now."""
    first, second = cert("first", 20, 40), cert("second", 50, 400)
    problems = certificates_problems([second, first], KEY, NOW)

    assert [p.code for p in problems] == ["certificates-none-valid-now", "certificate-gap"]
    assert f"the first to start, {first.describe()}" in problems[0].message
    assert f"from {first.end_date} to {second.start_date}" in problems[1].message


def test_an_expired_certificate_is_said_once() -> None:
    old, current, future = cert("old", -400, -10), cert("current", -30, 300), cert("f", 20, 400)
    assert codes([old]) == ["certificate-expired"]  # not "none valid now" as well
    assert codes([old, current]) == ["certificate-expired"]
    # Replacing the expired one is not enough here: the successor alone leaves a wait.
    assert codes([old, future]) == ["certificate-expired", "certificates-none-valid-now"]


def test_a_weak_key_does_not_count_as_valid_now() -> None:
    weak, future = cert("weak", -30, 300, bits=1024), cert("future", 20, 400)
    assert codes([weak, future]) == ["certificate-weak-key", "certificates-none-valid-now"]


def test_an_empty_list_covers_nothing() -> None:
    """What `scripts/rotate.py retire` asks about the list it would leave."""
    (problem,) = coverage_problems([], KEY, NOW)
    assert problem.code == "certificates-none-valid-now"
    assert "Download the current certificate from your Mimecast Administration Console" in (
        problem.message
    )
    assert codes([]) == ["certificates-empty"]  # the setting says it its own way

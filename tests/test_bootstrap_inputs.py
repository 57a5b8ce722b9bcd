"""The bootstrap's inputs and its stack files, without Graph: the tenants file as hostile input,
and a stack file written new or with only what it lacks added (never a hand-written line lost).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from certfactory import make_certificate, pem, private_key_pem

from association_tools.bootstrap.signin import sign_in
from association_tools.bootstrap.stack_text import merge, render
from association_tools.bootstrap.tenants import read_tenants
from association_tools.safe_read import InputError
from association_tools.stack_files import StackFileError, parse_stack_file

TENANT = "7d9f3f2e-4b1a-4c5e-9a8b-1c2d3e4f5a6b"
OTHER = "8e0a4a3f-5c2b-4d6f-8b9c-2d3e4f5a6b7c"
OWNER = "aaaaaaaa-0000-4000-8000-000000000001"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "mimecast.pem").write_bytes(pem(make_certificate()))
    return tmp_path


def test_csv_and_yaml_give_the_same_entries(project: Path) -> None:
    (project / "t.csv").write_text(
        f"stack,tenantId,certificate,exchange\ncontoso,{TENANT},certs/mimecast.pem,manage\n"
        f"fabrikam,{OTHER.upper()},,\n"
    )
    (project / "t.yaml").write_text(
        f"tenants:\n  - stack: contoso\n    tenantId: {TENANT}\n    certificate: "
        f"[certs/mimecast.pem]\n    exchange: manage\n  - {{stack: fabrikam, tenantId: {OTHER}}}\n"
    )
    from_csv = read_tenants(project / "t.csv", project, ["certs/mimecast.pem"])
    from_yaml = read_tenants(project / "t.yaml", project, ["certs/mimecast.pem"])
    assert from_csv == from_yaml
    assert [(e.stack, e.tenant_id, e.exchange) for e in from_csv] == [
        ("contoso", TENANT, True),
        ("fabrikam", OTHER, False),
    ]
    assert from_csv[1].certificates == ("certs/mimecast.pem",), "--certificate fills a gap"
    assert len(from_csv[0].thumbprints) == 1


def test_every_problem_at_once_with_its_line_and_escaped(project: Path) -> None:
    (project / "t.csv").write_text(
        "stack,tenantId,certificate,exchange,colour\n"
        f"example,{TENANT},certs/mimecast.pem,,red\n"
        "bad name\x1b[2J,not-a-guid,../../etc/passwd,maybe,\n"
        f"dup,{OTHER},certs/mimecast.pem,,\n"
        f"dup2,{OTHER},certs/mimecast.pem,,\n"
    )
    with pytest.raises(InputError) as refused:
        read_tenants(project / "t.csv", project, [])
    message = str(refused.value)
    assert "\x1b" not in message
    for expected in (
        "t.csv:1: column 'colour' is not one of",
        "t.csv:2: stack 'example' is no stack name",
        "t.csv:3: tenantId 'not-a-guid'",
        "t.csv:3: exchange 'maybe'",
        "outside the project",
        f"t.csv:5: tenant {OTHER} is listed already for dup (",
    ):
        assert expected in message, message


def test_a_private_key_as_certificate_is_refused_and_never_echoed(project: Path) -> None:
    (project / "certs" / "key.pem").write_bytes(private_key_pem())
    (project / "t.csv").write_text(f"stack,tenantId,certificate\ncontoso,{TENANT},certs/key.pem\n")
    with pytest.raises(InputError) as refused:
        read_tenants(project / "t.csv", project, [])
    assert "private key" in str(refused.value).lower()
    assert private_key_pem().decode().splitlines()[1][:20] not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("t.yaml", "a: &x [1]\nb: *x\n", "alias"),
        ("t.yaml", "[" * 200 + "]" * 200, "nested"),
        ("t.yaml", "- just a string\n", r"t.yaml:1: not a tenant"),
        ("t.csv", 'stack,tenantId\n"open,quote\n', "not valid CSV"),
        ("t.csv", "stack,tenantId\n", "lists no tenant"),
    ],
)
def test_hostile_files_are_one_clear_error(
    project: Path, name: str, content: str, words: str
) -> None:
    (project / name).write_text(content)
    with pytest.raises(InputError, match=words):
        read_tenants(project / name, project, ["certs/mimecast.pem"])


def test_a_fifo_or_a_file_outside_the_project_is_refused(project: Path, tmp_path: Path) -> None:
    os.mkfifo(project / "t.csv")
    with pytest.raises(InputError, match="not a regular file"):
        read_tenants(project / "t.csv", project, [])
    outside = tmp_path.parent / "elsewhere.csv"
    outside.write_text(f"stack,tenantId\ncontoso,{TENANT}\n")
    with pytest.raises(InputError, match="outside the project directory"):
        read_tenants(outside, project, ["certs/mimecast.pem"])


CONFIG = {
    "azuread:tenantId": TENANT,
    "mimecast-association:certificates": ["certs/mimecast.pem", "certs/with space.pem"],
    "mimecast-association:owners": [OWNER],
    "mimecast-association:adopt": {
        "applicationObjectId": OTHER,
        "keyIds": {"D4DF4464B05EA92F4990DC0BAF82505FD561ADD2": OWNER},
    },
}


def test_a_new_file_reads_back_as_the_config_it_was_made_from() -> None:
    parsed = parse_stack_file(render(CONFIG), "Pulumi.contoso.yaml").config
    assert parsed["azuread:tenantId"].text == TENANT
    assert json.loads(parsed["mimecast-association:certificates"].text) == [
        "certs/mimecast.pem",
        "certs/with space.pem",
    ]
    assert (
        json.loads(parsed["mimecast-association:adopt"].text)
        == CONFIG["mimecast-association:adopt"]
    )
    assert merge(render(CONFIG), CONFIG, "f").text is None, "a second run changes nothing"


def test_an_existing_file_keeps_every_line_and_gets_only_what_it_lacks() -> None:
    hand = (
        "# contoso: ask Jo before changing\n"
        "config:\n"
        f"  azuread:tenantId: {TENANT}  # the tenant\n"
        "  mimecast-association:owners:\n"
        "    - bbbbbbbb-0000-4000-8000-000000000002\n"
        "  mimecast-association:displayName: Mimecast (Contoso)\n"
        "\n"
        "# end\n"
    )
    merged = merge(hand, CONFIG, "Pulumi.contoso.yaml")
    assert merged.text is not None
    assert merged.added == ("mimecast-association:certificates", "mimecast-association:adopt")
    assert merged.differs == ("mimecast-association:owners",)
    assert all(line in merged.text.splitlines() for line in hand.splitlines())
    assert merged.text.endswith("\n# end\n"), "what follows the block stays after it"
    after = parse_stack_file(merged.text, "f").config
    assert after["mimecast-association:displayName"].text == "Mimecast (Contoso)"
    assert json.loads(after["mimecast-association:owners"].text) == [
        "bbbbbbbb-0000-4000-8000-000000000002"
    ]


def test_a_flow_style_config_is_left_for_a_person() -> None:
    with pytest.raises(StackFileError, match="add by hand"):
        merge(f"config: {{azuread:tenantId: {TENANT}}}\n", CONFIG, "Pulumi.contoso.yaml")


@pytest.mark.parametrize(
    "hand",
    [
        f"config:\n    azuread:tenantId: {TENANT}\n    mimecast-association:displayName: Mine\n",
        f"config:  # per tenant\n  azuread:tenantId: {TENANT}\n",
        f"\ufeffconfig:\n  azuread:tenantId: {TENANT}\n",
        f"config:\r\n  azuread:tenantId: {TENANT}\r\n  # note\r\n",
    ],
    ids=["four-space indent", "a comment after config", "a BOM", "CRLF"],
)
def test_common_hand_written_shapes_are_completed_in_their_own_style(hand: str) -> None:
    merged = merge(hand, CONFIG, "Pulumi.contoso.yaml")
    assert merged.text is not None
    assert merged.text.startswith(hand.rstrip("\r\n").splitlines()[0])
    assert all(line in merged.text for line in hand.splitlines())
    if "\r\n" in hand:
        assert "\n" not in merged.text.replace("\r\n", ""), "CRLF kept on every line"
    if hand.startswith("config:\n    "):
        assert "\n    mimecast-association:owners:\n" in merged.text
    parsed = parse_stack_file(merged.text.lstrip("\ufeff"), "f").config
    assert json.loads(parsed["mimecast-association:owners"].text) == [OWNER]


def test_a_csv_row_with_more_fields_than_the_header_is_named(project: Path) -> None:
    (project / "t.csv").write_text(f"stack,tenantId\ncontoso,{TENANT},extra\n,,x\n")
    with pytest.raises(InputError) as refused:
        read_tenants(project / "t.csv", project, ["certs/mimecast.pem"])
    assert "t.csv:2: more fields than the header names" in str(refused.value)
    assert "t.csv:3: more fields than the header names" in str(refused.value)


def test_one_sign_in_serves_tenants_in_parallel() -> None:
    made: list[int] = []

    class Token:
        token, expires_on = "t", 2**40

    class Credential:
        def get_token(self, *scopes: str, tenant_id: str | None = None) -> Token:
            return Token()

    def credential() -> Credential:
        made.append(1)
        time.sleep(0.05)
        return Credential()

    tokens = sign_in(None, "--token-env", credential, "https://graph.microsoft.com/.default")
    with ThreadPoolExecutor(8) as pool:
        assert set(
            pool.map(tokens, [f"{n:08x}-0000-4000-8000-000000000000" for n in range(8)])
        ) == {"t"}
    assert made == [1]

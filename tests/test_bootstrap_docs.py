"""docs/bootstrap.md walked as written: its tenants file and each of its bootstrap commands, run
in order against the fake Graph and fake Exchange (the page marks them `# needs: Azure`: here
the fakes stand in for the tenants and `--token-env` for the sign-in)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from certfactory import make_certificate
from docs_pages import blocks, text
from fake_directory import PIPELINE_APPS, FakeDirectory, fresh_tenant, publisher_tenant
from fake_directory import serve as serve_directory
from fake_exchange import FakeExchange, FakeOrganization
from fake_exchange import serve as serve_exchange
from tenant import program_with_certificates

from association_tools.bootstrap.cli import main
from association_tools.bootstrap.needs import table

PAGE = "docs/bootstrap.md"
DEPLOY, PREVIEW, AUDIT = PIPELINE_APPS
PLACEHOLDERS = {
    "<deploy app id>": DEPLOY,
    "<preview app id>": PREVIEW,
    "<audit app id>": AUDIT,
}


def documented_commands() -> list[list[str]]:
    found = []
    for block in blocks(PAGE):
        if block.language != "bash":
            continue
        for line in block.lines:
            if line.startswith("venv/bin/python -m association bootstrap"):
                command = line.split("#", 1)[0]
                for placeholder, value in PLACEHOLDERS.items():
                    command = command.replace(placeholder, value)
                found.append(shlex.split(command)[4:])
    return found


def test_the_page_walks_one_tenant_then_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = program_with_certificates(tmp_path, **{"mimecast-2026": make_certificate()})
    (tenants_file,) = [b for b in blocks(PAGE) if b.language == "yaml"]
    (project / "tenants.yaml").write_text("\n".join(tenants_file.lines) + "\n")
    tenant_ids = re.findall(r"tenantId: (\S+)", "\n".join(tenants_file.lines))
    directory = FakeDirectory(seed=3)
    publisher_tenant(directory)
    for tenant_id in tenant_ids:
        fresh_tenant(directory, tenant_id=tenant_id)
    exchange = FakeExchange(tenants={t: FakeOrganization() for t in tenant_ids})
    monkeypatch.setenv("GRAPH", json.dumps({t: f"token-{t}" for t in tenant_ids}))
    monkeypatch.setenv("EXCHANGE", exchange.token)
    monkeypatch.chdir(project)
    commands = documented_commands()
    assert len(commands) == 2, "the page shows a dry run and a resumed run"
    with serve_directory(directory) as graph, serve_exchange(exchange) as exchange_url:
        fakes = [
            *("--graph-endpoint", graph, "--exchange-endpoint", exchange_url),
            *("--token-env", "GRAPH", "--exchange-token-env", "EXCHANGE"),
        ]
        dry_run, resumed = commands
        assert main([*dry_run, *fakes], sleep=lambda s: None) == 0
        assert directory.writes() == [], "the dry run reads only"
        real = [word for word in dry_run if word != "--dry-run"]
        assert main([*real, *fakes], sleep=lambda s: None) == 0, capsys.readouterr().out
        assert main([*resumed, *fakes], sleep=lambda s: None) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-3].startswith(f"{len(tenant_ids)} tenants: {len(tenant_ids)} ready")
    assert "(done before)" in out
    for stack in ("contoso", "fabrikam"):
        assert (project / f"Pulumi.{stack}.yaml").exists()


def test_the_table_of_calls_is_the_declared_one() -> None:
    page = text(PAGE)
    assert table() in page, "run venv/bin/python -m association_tools.settings_doc"

"""scripts/install-pulumi.sh: the pinned CLI, verified by checksum before it runs.

Offline: the "release" is a fake tarball and checksums file served with file:// URLs, and
the committed pin (scripts/pulumi-cli.sha256) is replaced by a file of the test's own
(PULUMI_PIN_FILE), so a real pin committed later cannot break these tests.
"""

from __future__ import annotations

import hashlib
import io
import platform
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "install-pulumi.sh"
VERSION = re.search(
    r"^pulumi==(\S+)$", (REPO / "requirements.txt").read_text("utf-8"), re.MULTILINE
)
assert VERSION
PINNED = VERSION.group(1)
ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
TARBALL = f"pulumi-v{PINNED}-linux-{ARCH}.tar.gz"
SUMS = f"pulumi-{PINNED}-checksums.txt"


def release(folder: Path, reports: str = f"v{PINNED}") -> bytes:
    """Write a fake release (tarball + checksums) into folder; return the tarball."""
    folder.mkdir(parents=True, exist_ok=True)
    binary = f'#!/bin/sh\n[ "$1" = version ] && echo {reports}\n'.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("pulumi/pulumi")
        info.size, info.mode = len(binary), 0o755
        archive.addfile(info, io.BytesIO(binary))
    data = buffer.getvalue()
    (folder / TARBALL).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    (folder / SUMS).write_text(
        f"{'0' * 64}  pulumi-v{PINNED}-darwin-x64.tar.gz\n{digest}  {TARBALL}\n", "utf-8"
    )
    return data


def install(
    tmp_path: Path, served: Path, pins: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the script; `pins` is the pin file's text (None: there is no pin file)."""
    pin_file = tmp_path / "pulumi-cli.sha256"
    if pins is not None:
        pin_file.write_text(pins, "utf-8")
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "GITHUB_PATH": str(tmp_path / "github-path"),
            "PULUMI_DOWNLOAD_URL": served.as_uri(),
            "PULUMI_CHECKSUMS_URL": served.as_uri(),
            "PULUMI_INSTALL_DIR": str(tmp_path / "pulumi"),
            "PULUMI_PIN_FILE": str(pin_file),
        },
        capture_output=True,
        text=True,
        check=False,
    )


def test_installs_the_pinned_version_after_checking_its_checksum(tmp_path: Path) -> None:
    release(tmp_path / "release")
    result = install(tmp_path, tmp_path / "release")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "pulumi")
    assert (tmp_path / "github-path").read_text("utf-8") == f"{tmp_path / 'pulumi'}\n"
    assert (tmp_path / "pulumi" / "pulumi").is_file()


def test_a_tampered_tarball_is_never_installed(tmp_path: Path) -> None:
    data = release(tmp_path / "release")
    (tmp_path / "release" / TARBALL).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    result = install(tmp_path, tmp_path / "release")
    assert result.returncode == 1
    assert "does not match" in result.stderr
    assert not (tmp_path / "pulumi").exists()
    assert not (tmp_path / "github-path").exists()


def test_checksums_without_the_tarball_refuse(tmp_path: Path) -> None:
    release(tmp_path / "release")
    (tmp_path / "release" / SUMS).write_text(f"{'a' * 64}  other.tar.gz\n", "utf-8")
    result = install(tmp_path, tmp_path / "release")
    assert result.returncode == 1
    assert f"no single SHA-256 for {TARBALL}" in result.stderr
    assert not (tmp_path / "pulumi").exists()


def test_a_missing_checksums_file_refuses(tmp_path: Path) -> None:
    release(tmp_path / "release")
    (tmp_path / "release" / SUMS).unlink()
    result = install(tmp_path, tmp_path / "release")
    assert result.returncode == 1
    assert "cannot download" in result.stderr
    assert not (tmp_path / "pulumi").exists()


def test_a_cli_of_another_version_is_refused(tmp_path: Path) -> None:
    release(tmp_path / "release", reports="v3.0.0")
    result = install(tmp_path, tmp_path / "release")
    assert result.returncode == 1
    assert f"expected v{PINNED}" in result.stderr
    assert not (tmp_path / "github-path").exists()


# --- the SHA-256 pinned in the repository ------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_not_installed(result: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    assert result.returncode == 1
    assert not (tmp_path / "pulumi").exists()
    assert not (tmp_path / "github-path").exists()


def test_a_pinned_cli_that_matches_installs_quietly(tmp_path: Path) -> None:
    data = release(tmp_path / "release")
    pins = (
        f"# comment\n\n{'b' * 64}  pulumi-v3.0.0-linux-{ARCH}.tar.gz\n{sha256(data)}  {TARBALL}\n"
    )
    result = install(tmp_path, tmp_path / "release", pins)
    assert result.returncode == 0, result.stderr
    assert f"(sha256 {sha256(data)})" in result.stderr
    assert "not pinned" not in result.stderr


def test_an_unpinned_cli_installs_and_prints_the_line_to_commit(tmp_path: Path) -> None:
    data = release(tmp_path / "release")
    # A pin for another version only (requirements.txt moved on) pins nothing.
    result = install(
        tmp_path, tmp_path / "release", f"{'c' * 64}  pulumi-v3.0.0-linux-{ARCH}.tar.gz\n"
    )
    assert result.returncode == 0, result.stderr
    assert "is not pinned in the repository" in result.stderr
    assert f"\n{sha256(data)}  {TARBALL}\n" in result.stderr
    # No pin file at all: the same.
    assert "is not pinned" in install(tmp_path, tmp_path / "release").stderr


def test_a_download_that_differs_from_the_pin_is_never_installed(tmp_path: Path) -> None:
    # Both hosts agree (the tarball matches the checksums file), but not with the pin.
    release(tmp_path / "release")
    result = install(tmp_path, tmp_path / "release", f"{'d' * 64}  {TARBALL}\n")
    assert_not_installed(result, tmp_path)
    assert f"pins {'d' * 64}: not installed" in result.stderr


def test_a_tampered_release_whose_checksums_agree_fails_the_pin(tmp_path: Path) -> None:
    genuine = release(tmp_path / "genuine")
    release(tmp_path / "tampered", reports=f"v{PINNED} ")  # another binary, its own sums
    result = install(tmp_path, tmp_path / "tampered", f"{sha256(genuine)}  {TARBALL}\n")
    assert_not_installed(result, tmp_path)
    assert f"pins {sha256(genuine)}" in result.stderr


def test_a_tarball_that_matches_neither_the_pin_nor_the_sums_is_refused(tmp_path: Path) -> None:
    data = release(tmp_path / "release")
    (tmp_path / "release" / TARBALL).write_bytes(data + b"x")
    result = install(tmp_path, tmp_path / "release", f"{sha256(data)}  {TARBALL}\n")
    assert_not_installed(result, tmp_path)
    assert "does not match the pin in" in result.stderr


@pytest.mark.parametrize(
    ("pins", "message"),
    [
        (f"{'e' * 63}  {TARBALL}\n", "malformed line 1"),
        (f"# ok\n{'E' * 64}  {TARBALL}\n", "malformed line 2"),
        (f"{'e' * 64} {TARBALL} extra\n", "malformed line 1"),
        (f"{'e' * 64}  {TARBALL}\n{'f' * 64}  {TARBALL}\n", "more than once"),
    ],
)
def test_a_pin_file_it_cannot_read_refuses(tmp_path: Path, pins: str, message: str) -> None:
    release(tmp_path / "release")
    result = install(tmp_path, tmp_path / "release", pins)
    assert_not_installed(result, tmp_path)
    assert message in result.stderr


COMMITTED = (REPO / "scripts" / "pulumi-cli.sha256").read_text("utf-8")


def test_the_committed_pin_file_is_enforced_or_prints_the_line_to_commit(tmp_path: Path) -> None:
    # The install as CI runs it, with the committed pin file and a release that is not
    # Pulumi's: a pin for this version must refuse it; without one the install must name
    # the line to commit. A malformed committed line refuses every install (tested above).
    data = release(tmp_path / "release")
    result = install(tmp_path, tmp_path / "release", COMMITTED)
    pinned = [line.split()[0] for line in COMMITTED.splitlines() if line.endswith(f"  {TARBALL}")]
    if pinned:
        assert_not_installed(result, tmp_path)
        assert f"pins {pinned[0]}: not installed" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        line = f"{sha256(data)}  {TARBALL}"
        assert f"add this line to scripts/pulumi-cli.sha256 and commit it:\n{line}\n" in (
            result.stderr
        )


def test_the_printed_line_is_one_the_committed_file_takes(tmp_path: Path) -> None:
    # What the install prints, appended to the committed file, pins that release: the same
    # release installs quietly, any other is refused.
    data = release(tmp_path / "release")
    printed = install(tmp_path, tmp_path / "release").stderr.splitlines()[-1]
    assert printed == f"{sha256(data)}  {TARBALL}"
    others = [line for line in COMMITTED.splitlines() if not line.endswith(f"  {TARBALL}")]
    pins = "\n".join([*others, printed]) + "\n"
    quiet = install(tmp_path, tmp_path / "release", pins)
    assert quiet.returncode == 0, quiet.stderr
    assert "not pinned" not in quiet.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    release(tmp_path / "other", reports=f"v{PINNED} ")
    assert_not_installed(install(fresh, tmp_path / "other", pins), fresh)

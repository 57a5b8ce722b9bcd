"""scripts/install-pulumi.sh: the pinned CLI, verified by checksum before it runs.

Offline: the "release" is a fake tarball and checksums file served with file:// URLs.
"""

from __future__ import annotations

import hashlib
import io
import platform
import re
import subprocess
import tarfile
from pathlib import Path

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


def install(tmp_path: Path, served: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "GITHUB_PATH": str(tmp_path / "github-path"),
            "PULUMI_DOWNLOAD_URL": served.as_uri(),
            "PULUMI_CHECKSUMS_URL": served.as_uri(),
            "PULUMI_INSTALL_DIR": str(tmp_path / "pulumi"),
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

"""No credentials in the repository.

Scans every file git tracks or would add (tracked plus untracked, not
ignored: what the next commit can contain) for AWS access keys, AWS secret
assignments, passwords in URLs and private keys. The placeholders in
.env.example and interpolations such as ${POSTGRES_PASSWORD} or {password}
are allowed. The self-checks plant examples built at runtime, so this file
contains none itself and the scanner is shown to fire.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_SCANNED_BYTES = 2_000_000  # larger files are data, not config or code

PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"(?i)aws_?secret_?(?:access_?)?key\W{0,3}\s*[:=]\s*['\"]?(?P<value>[A-Za-z0-9/+=]{40})\b"
    ),
    "password in URL": re.compile(
        r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"{}$<>]+:(?P<value>[^\s/@'\"]+)@"
    ),
    "private key": re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----"),
}

# A value counts as a placeholder, not a credential, when it is
# interpolated (${VAR}, $VAR, {name}, <name>), masked, or a documented stand-in.
PLACEHOLDER = re.compile(r"^(?:\$\{?\w|\{|<|\*+$|x+$|change-me)", re.I)


def env_example_placeholders() -> set[str]:
    values = set()
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            values.add(line.split("=", 1)[1].strip())
    return values


def find_credentials(text: str, allowed: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(kind, matched text) for every credential-looking string in `text`."""
    findings = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.groupdict().get("value") or match.group(0)
            if PLACEHOLDER.match(value) or value in allowed:
                continue
            findings.append((kind, match.group(0)))
    return findings


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    paths = [REPO_ROOT / name.decode() for name in listed.split(b"\0") if name]
    return [p for p in paths if p.is_file() and p.stat().st_size <= MAX_SCANNED_BYTES]


def read_text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", errors="replace")


def test_no_credentials_in_the_repository():
    allowed = frozenset(env_example_placeholders())
    files = repository_files()
    assert any(p.name == "docker-compose.yml" for p in files), "git ls-files found nothing to scan"
    findings = []
    for path in files:
        text = read_text(path)
        if text is None:
            continue
        for kind, match in find_credentials(text, allowed):
            findings.append(f"{path.relative_to(REPO_ROOT)}: {kind}: {match[:60]}")
    assert not findings, "credentials found:\n" + "\n".join(findings)


# -- the scanner fires ----------------------------------------------------------------


def planted_examples() -> dict[str, str]:
    """One credential of each kind, assembled here so no file contains one."""
    key_id = "AK" + "IA" + "J7Q2" * 4
    secret = "wJalr" + "XUtnF" * 7
    return {
        "AWS access key id": f"aws_access_key_id = {key_id}",
        "AWS secret access key": f"AWS_SECRET_ACCESS_KEY={secret}",
        "password in URL": "postgresql://mlflow:" + "s3cr3t-pw" + "@db.example.org:5432/mlflow",
        "private key": "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n",
    }


@pytest.mark.parametrize("kind", list(PATTERNS))
def test_scanner_flags_planted_example(kind):
    findings = find_credentials("config:\n  " + planted_examples()[kind] + "\n")
    assert kind in {found for found, _ in findings}


def test_scanner_flags_a_planted_file(tmp_path):
    planted = tmp_path / "settings.py"
    planted.write_text("\n".join(planted_examples().values()))
    assert len(find_credentials(read_text(planted))) == len(PATTERNS)


@pytest.mark.parametrize(
    "text",
    [
        "postgresql+psycopg://${POSTGRES_USER:-mlflow}@postgres:5432/mlflow",
        'f"postgresql://{user}:{password}@{host}:{port}/db"',
        "MINIO_ROOT_PASSWORD=change-me-at-least-8-chars",
        "s3://dvc-store/files",
        "https://user@example.org/repo.git",
    ],
)
def test_placeholders_and_plain_urls_pass(text):
    assert find_credentials(text, frozenset(env_example_placeholders())) == []

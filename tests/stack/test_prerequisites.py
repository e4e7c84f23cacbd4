"""Clear messages when the native stack cannot run; skip vs. fail on CI."""

import pytest

from mlstack.stack import MissingBinaryError
from mlstack.stack import postgres, testing


def test_missing_postgres_binaries_are_named(monkeypatch):
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    with pytest.raises(MissingBinaryError) as error:
        postgres.find_pg_bindir()
    assert "initdb, pg_ctl" in str(error.value)
    assert "apt-get install postgresql" in str(error.value)


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_services_skip_locally_but_fail_on_ci(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome):
        testing.skip_or_fail("PostgreSQL server binaries (initdb, pg_ctl) not found")

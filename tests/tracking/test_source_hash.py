"""The code hash in the resume fingerprints: sources count, bytecode caches do not."""

import shutil

from mlstack.tracking.lineage import PACKAGE_DIR, package_source_md5


def test_source_hash_follows_sources_not_bytecode(tmp_path):
    copy = tmp_path / "mlstack"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    original = package_source_md5(copy)
    assert original == package_source_md5(PACKAGE_DIR)  # location does not matter
    (copy / "nvs" / "__pycache__").mkdir(exist_ok=True)
    (copy / "nvs" / "__pycache__" / "render.cpython-311.pyc").write_bytes(b"\0" * 16)
    assert package_source_md5(copy) == original
    render = copy / "nvs" / "render.py"
    render.write_text(render.read_text() + "\n# a comment is a change too\n")
    assert package_source_md5(copy) != original

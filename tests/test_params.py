"""Param validation: wrong types, out-of-range or NaN values and unknown keys name the key."""

import pytest
from ruamel.yaml import YAML

from mlstack.params import ParamsError, load_stage_params
from helpers import PROJECT


def _write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_committed_params_validate_for_every_stage():
    for stage in ("prepare", "train_cd", "train_nvs", "evaluate"):
        load_stage_params(stage, PROJECT / "params.yaml")


def test_lr_in_yaml_1_2_exponent_form_is_a_float(tmp_path):
    # `dvc exp run -S lr=1e-3` writes 1e-3; YAML 1.1 (PyYAML) would read it as a string.
    path = _write(tmp_path, "seed: 1\nlr: 1e-3\ntrain_cd: {}\n")
    assert load_stage_params("train_cd", path).lr == pytest.approx(0.001)


@pytest.mark.parametrize(
    "body, key",
    [
        ("seed: 1\nlr: 0.01\ntrain_cd: {batch_size: eight}\n", "train_cd.batch_size"),
        ("seed: 1\nlr: 0.01\ntrain_cd: {batch_size: 0}\n", "train_cd.batch_size"),
        ("seed: 1\nlr: .nan\ntrain_cd: {}\n", "lr"),
        ("seed: 1\nlr: -0.1\ntrain_cd: {}\n", "lr"),
        ("seed: 1\nlr: '0.01'\ntrain_cd: {}\n", "lr"),
        ("seed: 1\nlr: 0.01\ntrain_cd: {batch_sze: 4}\n", "train_cd.batch_sze"),
        ("seed: 1\nlr: 0.01\ntrain_cd: {patch_size: 100}\n", "train_cd.patch_size"),
        ("seed: 1\nlr: 0.01\ntrain_cd: {model: resnet}\n", "train_cd.model"),
        ("seed: -3\nlr: 0.01\ntrain_cd: {}\n", "seed"),
    ],
)
def test_bad_train_cd_params_name_the_key(tmp_path, body, key):
    with pytest.raises(ParamsError) as err:
        load_stage_params("train_cd", _write(tmp_path, body))
    assert f"  {key}:" in str(err.value)


def test_unknown_source_names_the_key(tmp_path):
    body = "seed: 1\nprepare: {cd: {source: sentinel}}\n"
    with pytest.raises(ParamsError, match=r"prepare\.cd\.source"):
        load_stage_params("prepare", _write(tmp_path, body))


def test_missing_group_is_reported(tmp_path):
    with pytest.raises(ParamsError, match="train_cd"):
        load_stage_params("train_cd", _write(tmp_path, "seed: 1\nlr: 0.1\n"))


def test_other_stages_groups_are_not_read(tmp_path):
    # A typo in evaluate's group must not stop train_cd (each stage validates what it reads).
    body = "seed: 1\nlr: 0.1\ntrain_cd: {}\nevaluate: {nonsense: 1}\n"
    assert load_stage_params("train_cd", _write(tmp_path, body)).lr == 0.1


def test_malformed_yaml(tmp_path):
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_stage_params("train_cd", _write(tmp_path, "seed: [1\n"))


def test_params_file_groups_match_dvc_yaml():
    """dvc.yaml's params for each stage are exactly what that stage validates."""
    from mlstack.params import STAGES

    dvc = YAML(typ="safe").load((PROJECT / "dvc.yaml").read_text())
    for name, stage in dvc["stages"].items():
        assert set(stage.get("params", [])) == set(STAGES[name].model_fields), name

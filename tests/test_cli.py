"""The `zoo` console script, run as a user runs it (subprocesses)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "emoset_attribute.yaml"


def zoo_cli(*args, cwd=None, timeout=300):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL,
                          cwd=cwd or REPO, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, emoset_root):
    out = tmp_path_factory.mktemp("fit")
    result = zoo_cli("fit", "--config", RECIPE, "--trainer.max_steps", 2, "--trainer.default_root_dir", out,
                     "--data.reader.init_args.root", emoset_root, "--data.reader.init_args.image_size", 40,
                     "--model.init_args.image_size", 40, "--data.batch_size", 8)
    assert result.returncode == 0, result.stderr[-3000:]
    ckpts = sorted(out.rglob("*.ckpt"))
    assert ckpts, "zoo fit wrote no checkpoint"
    return ckpts[-1], out


def test_zoo_fit_from_the_recipe_runs_two_steps(fitted):
    ckpt, _ = fitted
    assert "step=2" in ckpt.name


def test_zoo_export_then_predict_prints_labels_per_file(fitted, emoset_root, tmp_path):
    ckpt, _ = fitted
    assert zoo_cli("export", ckpt, tmp_path / "exported").returncode == 0
    images = sorted((emoset_root / "image" / "awe").glob("*.jpg"))[:2]
    result = zoo_cli("predict", tmp_path / "exported", *images, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)
    assert [Path(r["file"]).name for r in rows] == [p.name for p in images]
    assert all(r["label"] in ("amusement", "awe", "contentment", "excitement", "anger", "disgust", "fear",
                              "sadness") and len(r["top"]) == 3 for r in rows)
    table = zoo_cli("predict", tmp_path / "exported", images[0])
    assert table.returncode == 0 and images[0].name in table.stdout


def test_zoo_list_and_info(fitted, tmp_path):
    listing = zoo_cli("list")
    assert listing.returncode == 0 and "emoset_attribute" in listing.stdout
    info = zoo_cli("info", "emoset_attribute")
    assert info.returncode == 0 and "preset paper" in info.stdout and "resnet50" in info.stdout
    ckpt, _ = fitted
    assert zoo_cli("export", ckpt, tmp_path / "c").returncode == 0
    card = zoo_cli("info", tmp_path / "c")
    assert card.returncode == 0 and "sha256" in card.stdout and "labels: amusement, awe" in card.stdout


def test_bad_arguments_give_one_clear_line_and_a_nonzero_exit(tmp_path):
    result = zoo_cli("predict", "no-such-model", tmp_path / "x.jpg")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("zoo: error:") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    bad_image = tmp_path / "x.jpg"
    bad_image.write_text("not an image")
    result = zoo_cli("bench", "no-such-benchmark")
    assert result.returncode == 1 and "unknown benchmark" in result.stderr


def test_corrupt_image_in_predict_names_the_file(fitted, tmp_path):
    ckpt, _ = fitted
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    result = zoo_cli("predict", ckpt, bad)
    assert result.returncode == 1 and "broken.jpg" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_ddp_with_two_cpu_processes_runs(emoset_root, tmp_path):
    result = zoo_cli("fit", "--config", RECIPE, "--trainer.max_steps", 2, "--trainer.strategy", "ddp",
                     "--trainer.accelerator", "cpu", "--trainer.devices", 2, "--trainer.default_root_dir", tmp_path,
                     "--data.reader.init_args.root", emoset_root, "--data.reader.init_args.image_size", 40,
                     "--model.init_args.image_size", 40, "--data.batch_size", 4, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(tmp_path.rglob("*.ckpt")), "DDP run wrote no checkpoint"


def test_argument_errors_are_one_line(capsys):
    from zoo.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["predict"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error: the following arguments are required") and len(err.splitlines()) == 1

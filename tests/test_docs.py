"""The documentation: the site builds with --strict (no broken link or reference), its generated table is current,
and the README stays a newcomer's page."""

import os
import re
import subprocess
import sys

import pytest

from keras_resnet.arch.options import options_table

from helpers import ROOT


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert out.returncode == 0, out.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "arch" / "index.html").read_text()
    assert "ModelOptions" in api and "block_options" in api  # the reference was generated from the docstrings
    # A Returns section is one row, its wrapped description in it (not a false row per line).
    factory = (tmp_path / "site" / "api" / "factory" / "index.html").read_text()
    returns = factory.split("build_backbone", 1)[1].split("Returns:", 1)[1].split("</table>", 1)[0]
    assert returns.count("<tr") == 2  # the header and one value


@pytest.mark.slow
def test_a_link_to_a_page_the_build_excludes_fails_the_strict_build(tmp_path):
    """mkdocs logs such a link at INFO at most; the hook (docs/hooks/excluded_links.py) makes it a warning."""
    (tmp_path / "docs" / "raw").mkdir(parents=True)
    (tmp_path / "docs" / "raw" / "table.md").write_text("# a raw table\n")
    config = (f"site_name: t\nexclude_docs: |\n  /raw/*.md\n"
              f"hooks:\n  - {os.path.join(ROOT, 'docs', 'hooks', 'excluded_links.py')}\n")
    (tmp_path / "mkdocs.yml").write_text(config)
    outcomes = {}
    for page in ("# home\n\nSee `raw/table.md`.\n", "# home\n\nSee [the table](raw/table.md).\n"):
        (tmp_path / "docs" / "index.md").write_text(page)
        out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
        outcomes["link" if "](" in page else "text"] = (out.returncode, out.stderr)
    assert outcomes["text"][0] == 0, outcomes["text"][1][-2000:]
    assert outcomes["link"][0] == 1
    assert "contains a link to 'raw/table.md' which is excluded from the built site" in outcomes["link"][1]


def test_the_generated_tables_are_current():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "docs_tables.py"), "--check"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    reference = open(os.path.join(ROOT, "docs", "api", "factory.md"), encoding="utf-8").read()
    assert "keras_resnet.ResNet50(\n    include_top=True,\n    weights=None," in reference
    assert "| `ResNet50` | ResNet of depth 50 (imagenet, bottleneck blocks" in reference


def test_the_options_table_is_generated_from_model_options():
    guide = open(os.path.join(ROOT, "docs", "guides", "models.md"), encoding="utf-8").read()
    table = guide.split("from keras_resnet.ModelOptions -->\n", 1)[1].split("\n<!-- options-table: end -->", 1)[0]
    assert table == options_table()
    assert table.count("\n| `") == 17  # every field of ModelOptions, one row each


def test_the_readme_is_a_short_page_for_users():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    lines = readme.splitlines()
    assert len(lines) <= 300
    assert not re.search(r"\bissues? \d+|#\d+\b", readme)  # issue numbers belong in commit messages
    first_screen = "\n".join(lines[:40])
    assert "pip install resnet-keras" in first_screen and 'pip install -e ".[all]"' in first_screen
    assert 'weights="imagenet"' in first_screen
    assert "include_top=False" in first_screen and "scripts/setup.sh" in first_screen
    # Every local link resolves.
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert os.path.exists(os.path.join(ROOT, target)), target


def test_each_fault_in_the_scaling_out_table_names_a_test_that_exists():
    guide = open(os.path.join(ROOT, "docs", "guides", "scaling-out.md"), encoding="utf-8").read()
    rows = [line for line in guide.splitlines() if line.startswith("| **")]
    assert len(rows) == 9
    module = None
    for row in rows:
        cell = row.rstrip(" |").split("|")[-1]
        names = re.findall(r"`([\w.]+)`", cell)
        if cell.strip() == "the same test":
            continue
        assert names, row
        if names[0].endswith(".py"):
            module, names = names[0], names[1:]
        source = open(os.path.join(ROOT, "tests", module), encoding="utf-8").read()
        tests = re.findall(r"^def (test_\w+)", source, re.M)
        for name in names:
            assert any(name in test for test in tests), f"{name} names no test in tests/{module}"


def test_the_layout_table_names_every_module_in_its_folder():
    guide = open(os.path.join(ROOT, "docs", "guides", "layout.md"), encoding="utf-8").read()
    rows = [line.split("|")[1:3] for line in guide.splitlines() if line.startswith("| ") and "`" in line]
    listed = set()
    for layer, modules in rows:
        folder = layer.strip().strip("`/") if layer.strip().startswith("`") else ""
        for name in re.findall(r"`(\w+)`", modules):
            listed.add(f"{folder}/{name}" if folder else name)
    package = os.path.join(ROOT, "keras_resnet")
    actual = {name[:-3] for name in os.listdir(package) if name.endswith(".py") and not name.startswith("__")}
    for folder in ("arch", "weights", "data", "train", "search", "export", "research"):
        for name in os.listdir(os.path.join(package, folder)):
            if name.endswith(".py") and not name.startswith("__"):
                actual.add(f"{folder}/{name[:-3]}")
            elif os.path.isfile(os.path.join(package, folder, name, "__init__.py")):  # a subpackage, one row entry
                actual.add(f"{folder}/{name}")
    actual.add("cli")  # the front: its modules are one per subcommand
    assert listed == actual


def test_the_api_index_names_every_public_name():
    import keras_resnet
    from keras_resnet.arch import registry

    index = open(os.path.join(ROOT, "docs", "api", "index.md"), encoding="utf-8").read()
    functions = registry.application_names()  # each a row of the generated reference (docs/api/factory.md)
    assert [n for n in keras_resnet.__all__ if n not in functions and f"`{n}`" not in index] == []


def test_the_training_guide_gives_the_timed_steps_the_measurement_takes():
    from keras_resnet.train import autotune

    guide = open(os.path.join(ROOT, "docs", "guides", "training.md"), encoding="utf-8").read()
    assert re.findall(r"(\d+) timed steps", guide) == [str(autotune.TIMED_STEPS)]

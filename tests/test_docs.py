"""The documentation: the site builds with --strict (no broken link or reference), its generated table is current,
and the README stays a newcomer's page."""

import os
import re
import subprocess
import sys

import pytest

from keras_resnet.arch.options import options_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert out.returncode == 0, out.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "arch" / "index.html").read_text()
    assert "ModelOptions" in api and "block_options" in api  # the reference was generated from the docstrings


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
    assert "pip install -e ." in first_screen and 'weights="imagenet"' in first_screen
    assert "include_top=False" in first_screen and "scripts/setup.sh" in first_screen
    # Every local link resolves.
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith("http"):
            assert os.path.exists(os.path.join(ROOT, target)), target

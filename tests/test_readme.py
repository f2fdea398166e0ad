"""The README's usage example runs as written (with fewer epochs) and learns."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_usage_example_trains(tmp_path, monkeypatch):
    if not README.exists():
        pytest.skip("README.md is not beside the tests")
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "range(5)" in code
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code.replace("range(5)", "range(3)"), "README.md", "exec"), namespace)
    assert namespace["accuracy"] > 0.9
    assert (tmp_path / "digits.npz").exists()

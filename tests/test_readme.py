"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_its_two_commands_first():
    commands = re.search(r"```sh\n(.*?)```", README.read_text(), re.S).group(1).splitlines()
    assert commands == ["pip install -e '.[test]' && asyncqueue-check queue_core",
                        "pip install -e '.[test]' && python -m pytest"]


def test_the_queue_core_example_runs(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(BLOCKS[0])
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "state=<TaskState.COMPLETED" in done.stdout


def test_the_fixture_example_passes(pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_example=BLOCKS[1])
    pytester.runpytest("-p", "no:hypothesispytest").assert_outcomes(passed=1)


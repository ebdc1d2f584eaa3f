"""Repository checks: the CI workflow is valid, README and .ci/run agree."""
import re

import yaml

from conftest import repo_root


def test_workflow_is_valid_yaml_with_cpu_and_gpu_jobs():
    wf = yaml.safe_load((repo_root() / ".github" / "workflows" / "ci.yml").read_text())
    assert set(wf["jobs"]) == {"cpu", "gpu"}
    assert any("bash .ci/run" in s.get("run", "") for s in wf["jobs"]["cpu"]["steps"])
    assert "self-hosted" in wf["jobs"]["gpu"]["runs-on"]
    assert True in wf or "on" in wf  # PyYAML reads the bare key `on` as True


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_second():
    readme = (repo_root() / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```(?:bash|sh)\n(.*?)```", setup, re.S)
    assert len(commands) == 2, commands
    ci = (repo_root() / ".ci" / "run").read_text()
    assert commands[1].strip() in ci
    assert "fastinit bench" in commands[0]

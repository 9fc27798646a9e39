"""The GitHub Actions workflows: valid against GitHub's schema, and free of findings."""
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT

WORKFLOWS = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def test_workflows_match_the_schema():
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema",
                             "vendor.github-workflows", *WORKFLOWS], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_of_medium_or_higher_severity():
    result = subprocess.run([str(BIN / "zizmor"), "--offline", "--persona", "auditor",
                             "--min-severity", "medium", *WORKFLOWS],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_the_deploy_job_may_write():
    workflow = yaml.safe_load(Path(WORKFLOWS[0]).read_text())
    assert workflow["permissions"] == {"contents": "read"}
    triggers = workflow[True]  # YAML reads the key "on" as true
    assert "pull_request_target" not in triggers
    jobs = workflow["jobs"]
    writers = {name for name, job in jobs.items() if "permissions" in job}
    assert writers == {"deploy"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert "pull_request" in jobs["deploy"]["if"] and jobs["deploy"]["environment"]["name"] == "github-pages"
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                ref = step["uses"].split("@")[1]
                assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), step["uses"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False

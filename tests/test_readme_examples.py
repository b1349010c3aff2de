"""Every `openlfr` command the README and the documentation show, run as written on real faces.

The commands are read from the code blocks of the README and of every page of the documentation
(in the site's order), so an example that is added or changed is run here too, or fails this
test until it is. Placeholder paths and ids are replaced by real files made here
(``PLACEHOLDERS``), in the documents' own order, each command a real process of the installed
``openlfr`` in its own data folder. The few that cannot run on one machine in a test name where
the same form is tested instead (``ELSEWHERE``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from tests.conftest import REPO_ROOT
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

README = REPO_ROOT / "README.md"
OPENLFR = Path(sys.executable).parent / "openlfr"

ELSEWHERE = {
    "openlfr cluster start --head --node-ip 10.0.0.1": "needs a machine at that address; "
    "tests/test_cluster.py starts a real Ray cluster and runs a deployment on it",
    "openlfr cluster start --address 10.0.0.1:6379 --node-ip 10.0.0.2": "as above",
    "OPENLFR_CLUSTER__ADDRESS=10.0.0.1:6379 openlfr cluster run DEPLOYMENT_ID": "as above",
    "openlfr eval study --data ../shared/data --output evaluation/": "14 minutes on the whole data; "
    "tests/test_evaluation_study.py runs the same command on real LFW and UTKFace subsets",
    "openlfr eval study --pack buffalo_s --pack yunet_sface --pack dlib": "as above, three packs; "
    "tests/test_evaluation_study.py compares packs, tests/test_dlib_pack.py runs the dlib pack",
    "openlfr eval study --pack buffalo_s --pack buffalo_s+yunet_sface": "as above; "
    "tests/test_yunet_sface.py checks what the fused templates score",
    "openlfr eval trial --data ../shared/data --output trial/": "25 minutes for 10,000 fillers; "
    "tests/test_trial.py runs the same command with fewer passers-by and a smaller watchlist",
}


def documents() -> list[Path]:
    """The README, then the documentation's pages in the site's order (``mkdocs.yml``'s nav)."""
    nav = re.findall(r":\s*([\w/.-]+\.md)\s*$", (REPO_ROOT / "mkdocs.yml").read_text(), re.M)
    return [README, *(REPO_ROOT / "docs" / page for page in nav)]


def readme_commands() -> list[str]:
    """Each openlfr command line of the code blocks of the README and the documentation,
    continuation lines joined, a line holding several (``a; b``) split, comments dropped."""
    commands = []
    text = "\n".join(path.read_text() for path in documents())
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            for part in (p.strip() for p in split_outside_quotes(line)):
                if re.match(r"^([A-Z_]+=\S+\s+)*openlfr\s", part):
                    commands.append(re.sub(r"\s+", " ", part))
    return commands


def split_outside_quotes(line: str) -> list[str]:
    """A shell line cut at each ``;`` that is not inside quotes."""
    parts, current, quote = [], "", ""
    for char in line:
        if char in "\"'" and quote in ("", char):
            quote = "" if quote else char
        if char == ";" and not quote:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def test_the_readme_shows_commands_and_names_each_one_it_cannot_run_here() -> None:
    commands = readme_commands()
    assert len(commands) >= 25 and all("openlfr" in c for c in commands)
    assert set(ELSEWHERE) <= set(commands), "an example listed as tested elsewhere left the README"


@pytest.fixture
def workplace(tmp_path: Path, samples, demo_material, analyzer) -> tuple[Path, dict[str, str]]:
    """The files the README's placeholders stand for, and what each placeholder becomes."""
    from openlfr.evaluation.perturb import tight

    project = tmp_path / "project"
    project.mkdir()
    yao = project / "photo.jpg"
    shutil.copy(samples["yaoming"], yao)
    custody = project / "custody-photos"
    for folder in demo_material["watchlist"].iterdir():
        name = "PNC-1234" if folder.name == "yao_ming" else folder.name
        shutil.copytree(folder, custody / name)
    missing, found = project / "missing", project / "found"
    missing.mkdir()
    found.mkdir()
    shutil.copy(samples["yaoming"], missing / "case-17.jpg")
    photo = analyzer.load(samples["yaoming"])
    chip = tight(photo, analyzer.subject_face(photo).face.box, 1.1, 160)  # a care home's face chip
    cv2.imwrite(str(found / "resident-3.png"), chip)
    shutil.copy(next((demo_material["watchlist"] / "player_9").iterdir()), found / "resident-4.png")
    player = next((demo_material["watchlist"] / "player_20").iterdir())
    shutil.copy(player, project / "p20.png")
    with (project / "subjects.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["reference", "category", "reason", "image", "image_source"])
        writer.writerow(["W200", "wanted_serious_violent", "Warrant 4412", "p20.png", "custody"])
    return project, {
        "rtsp://user:pass@10.0.0.5/stream": str(demo_material["video"]),  # RTSP: tests/test_rtsp.py
        "rtsp://van-1/stream": str(demo_material["video"]),
        "watchlist/": str(demo_material["watchlist"]),
        "w123.jpg": str(yao),
        "cctv-still.jpg": str(yao),
        "recording.mp4": str(demo_material["video"]),
    }


# The people the README signs in as, and their roles (made in the store before the commands run;
# each types their password at `openlfr login`, here given on standard input).
PEOPLE = {
    "records": "watchlist_manager",
    "dc_smith": "operator",
    "planner": "watchlist_manager",
    "supt_b": "authorising_officer",
    "operator": "operator",
    "admin": "admin",
    "auditor": "auditor",
}


def test_every_readme_command_runs_as_written(workplace: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    from openlfr.governance import Governance, accounts
    from openlfr.settings import load_settings
    from openlfr.store import open_store
    from tests.cli_support import PASSWORD

    project, placeholders = workplace
    environment = os.environ | {
        "OPENLFR_DATA_DIR": str(tmp_path / "state"),
        "XDG_STATE_HOME": str(tmp_path / "terminal"),
        "COLUMNS": "200",
    }
    state = load_settings(data_dir=tmp_path / "state")
    gov = Governance(open_store(state), state)
    for name, role in PEOPLE.items():
        accounts.create_user(gov, name, PASSWORD, role, "test-setup")
    values: dict[str, str] = {}
    ran = []

    def run(command: str) -> subprocess.CompletedProcess[str]:
        for placeholder, value in placeholders.items():
            command = command.replace(placeholder, value)
        for placeholder, value in values.items():
            command = re.sub(rf"\b{placeholder}\b", value, command)
        assert not re.search(r"\bID\b|\bALERT\b|\bSUBJECT\b", command), f"no value yet in {command}"
        words = shlex.split(command)
        settings = {}
        while "=" in words[0] and not words[0].startswith("-"):
            key, value = words.pop(0).split("=", 1)
            settings[key] = value
        words[0] = str(OPENLFR)
        if "/dev/video0" in words:  # a live command: it runs until Ctrl-C, as the README says
            return interrupted_when(words, environment, project, lambda: (project / "alerts.jsonl").exists())
        typed = None
        if words[1] == "login":
            words.append("--password-stdin")
            typed = PASSWORD + "\n"
        done = subprocess.run(
            words,
            cwd=project,
            env=environment | settings,
            capture_output=True,
            text=True,
            timeout=300,
            input=typed,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        return done

    for command in readme_commands():
        if command in ELSEWHERE:
            continue
        ran.append(command)
        if "--format json|html|pdf" in command:  # the README lists the formats as alternatives
            for fmt in ("json", "html", "pdf"):
                run(command.replace("json|html|pdf", fmt).replace("report.pdf", f"report.{fmt}"))
            assert (project / "report.pdf").read_bytes().startswith(b"%PDF")
            assert json.loads((project / "report.json").read_text())["deployment"]
            continue
        done = run(command)
        if command.startswith("openlfr deployment create"):
            values["ID"] = done.stdout.strip().splitlines()[-1]
        if command.startswith("openlfr watchlist import"):
            listed = run(f"openlfr watchlist list {values['ID']} --json")
            values["SUBJECT"] = next(s["id"] for s in json.loads(listed.stdout) if s["reference"] == "W200")
        if command.startswith("openlfr alerts list"):
            listed = run(f"openlfr alerts list {values['ID']} --json")
            values["ALERT"] = json.loads(listed.stdout)[0]["id"]
        check(command, done, project)
    assert len(ran) + len(ELSEWHERE) == len(readme_commands())


def interrupted_when(
    words: list[str], environment: dict[str, str], folder: Path, ready: Callable[[], bool]
) -> subprocess.CompletedProcess[str]:
    """Start a command that runs until stopped, wait until ``ready``, then press Ctrl-C (SIGINT):
    it must stop promptly and cleanly."""
    process = subprocess.Popen(
        words, cwd=folder, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert wait_for(lambda: ready() and time.sleep(3) is None, 180), "the live command did nothing"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode in (0, 130), f"{words}\n{stdout}\n{stderr}"
    return subprocess.CompletedProcess(words, process.returncode, stdout, stderr)


def check(command: str, done: subprocess.CompletedProcess[str], project: Path) -> None:
    """What each documented command must have done, beyond exiting 0."""
    if command.startswith("openlfr run --source"):
        alerts = [json.loads(line) for line in (project / "alerts.jsonl").read_text().splitlines()]
        assert alerts and {a["subject"] for a in alerts} == {"yao_ming"}
    elif command.startswith("openlfr crossmatch"):
        pairs = list(csv.DictReader((project / "candidates.csv").open()))
        assert pairs[0]["a"].endswith("case-17.jpg") and pairs[0]["b"].endswith("resident-3.png")
    elif command.startswith("openlfr gallery build"):
        assert "4 templates of 4 people" in done.stdout
    elif command.startswith("openlfr search cctv-still.jpg"):
        assert "PNC-1234" in done.stdout
    elif command.startswith("openlfr search recording.mp4"):
        rows = list(csv.DictReader((project / "candidates.csv").open()))
        assert any(r["label"] == "PNC-1234" and float(r["score"]) > 0.45 for r in rows)
    elif command.startswith("openlfr gallery delete"):
        assert "removed 1 template(s) of PNC-1234" in done.stdout
    elif command.startswith("openlfr watchlist import"):
        assert "W200" in done.stdout + done.stderr or "1 enrolled" in done.stdout
    elif command.startswith("openlfr run --deployment"):
        assert "ALERT cam1" in done.stdout and "W123" in done.stdout  # w123.jpg is his photo
    elif command.startswith("openlfr audit verify"):
        assert "intact" in done.stdout
    elif command.startswith("openlfr audit log"):
        assert "Market day" in done.stdout and "supt_b" in done.stdout  # names, not ids
    elif command.startswith("openlfr login"):
        assert "signed in as" in done.stdout
    elif command.startswith("openlfr watchlist remove"):
        assert "removed" in done.stdout
    elif command.startswith("OPENLFR_DETECTOR__SCORE_THRESHOLD"):
        assert "1 face(s)" in done.stdout

"""``budget-warehouse --help`` and ``build --help`` against the README: the synopsis the README shows is what the
command says, and every option and exit status it lists is in the README (a fresh user found them apart)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT, build_env

README = ROOT / "README.md"


def _help(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args, "--help"],
        capture_output=True,
        text=True,
        env={**build_env(), "COLUMNS": "120"},
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0 and not done.stderr, done.stdout + done.stderr
    return done.stdout


def test_the_readmes_synopsis_is_what_build_help_says():
    usage = _help("build").split("\n\n")[0]
    text = README.read_text(encoding="utf-8")
    block = re.search(r"as `budget-warehouse build --help` says it:\n\n```\n(.*?)\n```", text, re.DOTALL)
    assert block is not None, "the README's synopsis of the command is gone"
    assert block.group(1) == usage


def test_every_option_and_exit_status_of_build_help_is_in_the_readme():
    said = _help("build")
    text = README.read_text(encoding="utf-8")
    options = sorted(set(re.findall(r"^  (--[a-z-]+)", said, re.MULTILINE)) - {"--help"})
    assert options == ["--download", "--keep-releases", "--out", "--portal", "--prune", "--sources", "--years"]
    for option in options:
        assert re.search(rf"^\| `{option}[ `]", text, re.MULTILINE), f"{option}: no row in the README's options"
    epilog = said.split("exit status:")[1]
    statuses = sorted(int(s) for s in re.findall(r"\b(\d+) ", " ".join(epilog.split())))
    assert statuses == [0, 1, 2, 130, 143], epilog
    table = text.split("Exit status (also at the end of `build --help`):")[1].split("\n\n")[1]
    assert sorted(int(s) for s in re.findall(r"`(\d+)`", " ".join(r.split("|")[1] for r in table.splitlines()))) == (
        statuses
    ), table


def test_the_command_says_its_one_command():
    said = _help()
    assert said.startswith("usage: budget-warehouse [-h] [--version] {build} ...\n"), said
    assert "build the warehouse: DuckDB file and Parquet files" in said


def test_the_readme_points_only_at_files_a_clone_has():
    # A fresh user's find: the README named `GLOSSARY.md` and `CONTRACT.md`, kept outside the repository.
    for document in (README, ROOT / "docs" / "glossary.md"):
        text = document.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not target.startswith(("http://", "https://")):
                assert (document.parent / target).exists(), f"{document.name}: {target}"
        assert "GLOSSARY.md" not in text and "CONTRACT.md" not in text and "../shared" not in text, document


def _command(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        env=build_env(),
        cwd=cwd,
        timeout=120,
    )


def test_version_prints_the_installed_packages_version():
    # A tester's find: no `--version`.
    from importlib.metadata import version

    done = _command("--version")
    assert done.returncode == 0 and not done.stderr, done.stdout + done.stderr
    assert done.stdout == f"budget-warehouse {version('budget-warehouse')}\n"
    assert "--version" in _help() and "`budget-warehouse --version`" in README.read_text(encoding="utf-8")


def test_years_and_keep_releases_take_ascii_digits_only(tmp_path):
    # A tester's find: `--years ２０２０` (fullwidth digits) built 2020, as Python's `\d` and int() take them.
    for option, value in (("--years", "２０２０"), ("--years", "2019-２０２０"), ("--keep-releases", "３")):
        done = _command("build", option, value, "--out", str(tmp_path / "out"))
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"argument {option}: expected" in done.stderr and "digits 0-9" in done.stderr, done.stderr
        assert value in done.stderr and not (tmp_path / "out").exists()


def test_the_code_points_at_no_contract_outside_the_repository():
    # A fresh user's find: docstrings and asset descriptions (shown in the Dagster UI) cited `CONTRACT.md`, a file
    # kept outside the repository; the README's sections say the same.
    said = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("pipelines", "assets", "schemas", "warehouse")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in {".py", ".toml", ".sql"}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "CONTRACT" in line
    ]
    assert not said, said

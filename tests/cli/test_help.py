"""Help and tables a person reads: every option explained, flags shown as flags, `run NAME --help` from the
registry, compact `storage ls` / `storage lineage` tables (full JSON with --json), piped output not cut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from prsgazer.cli import app, main


def _commands() -> list[tuple[str, Any]]:
    from prsgazer.cli import _register

    _register()
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(prefix: str, cmd: Any) -> None:  # typer's own click: groups are the commands with `commands`
        found.append((prefix, cmd))
        if getattr(cmd, "commands", None):
            for name, sub in cmd.commands.items():
                walk(f"{prefix} {name}".strip(), sub)

    walk("", root)
    return found


def test_every_option_and_argument_of_every_command_has_help() -> None:
    missing = []
    commands = _commands()
    assert len(commands) > 30  # the walk reached the groups
    for name, cmd in commands:
        for p in cmd.params:
            if not (getattr(p, "help", None) or "").strip():
                missing.append(f"prsgazer {name}: {p.opts or p.name}")
    assert not missing, "\n".join(missing)


def test_flags_read_as_flags_in_every_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name, cmd in _commands():
        if getattr(cmd, "commands", None) and name:
            continue
        assert main([*name.split(), "--help"]) == 0, name
        shown = capsys.readouterr().out
        assert "<bool>" not in shown, f"prsgazer {name} --help shows <bool>"
    main(["storage", "ls", "--help"])
    shown = capsys.readouterr().out
    assert "--json" in shown and "--cids" in shown


def test_run_help_shows_the_workflows_own_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    from prsgazer import registry

    assert main(["run", "prs_report", "--help"]) == 0
    shown = capsys.readouterr().out
    entry = registry.get("prs_report")
    assert shown.startswith("Usage: prsgazer run prs_report")
    for p in entry.params:
        assert f"--{p.name.replace('_', '-')}" in shown and p.description in shown, p.name
    assert "--ancestry / --no-ancestry" in shown and "TEXT,TEXT,…" in shown  # pgs_ids: a list of ids
    assert "minimum matched fraction" in shown and "-1.0" in shown  # description and default
    # a task: asset parameters say what they take
    assert main(["run", "score", "-h"]) == 0
    shown = capsys.readouterr().out
    assert "--genotypes CID|key=value,…" in shown and "(required)" in shown
    # without a name: the command's own help; an unknown name lists the known ones
    assert main(["run", "--help"]) == 0
    assert "prsgazer run NAME --help" in capsys.readouterr().out
    assert main(["run", "nope", "--help"]) == 2
    assert "known: " in capsys.readouterr().err


def test_no_flag_turns_a_bool_parameter_off() -> None:
    from prsgazer import registry
    from prsgazer.cli.run import _flags_off, parse_run_args

    entry = registry.get("prs_report")
    got = _flags_off(entry, parse_run_args(["--no-ancestry", "--pgs-ids", "A,B", "--panel", "p"]))
    assert got == {"ancestry": "false", "pgs_ids": "A,B", "panel": "p"}


def test_storage_tables_are_compact_and_json_is_whole(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    long_name = "a_person_with_a_rather_long_file_name_that_goes_past_eighty_columns_on_its_own.vcf"
    vcf = tmp_path / long_name
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n"
                   "1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t0/1\n")  # fmt: skip
    assert main(["storage", "put", str(vcf), "superpopulation=EUR"]) == 0
    vcf_cid = capsys.readouterr().out.strip()
    res = tmp_path / "res.tsv"
    res.write_text("sample_id\tsum\nP1\t0.5\n")
    assert main(["storage", "put", str(res), "-a", "prs_result", f"genotypes_cid={vcf_cid}", "pgs_id=PGS1",
                 "imputation=mean imputation from 2504 founders"]) == 0  # fmt: skip
    res_cid = capsys.readouterr().out.strip()

    assert main(["storage", "ls"]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    row = next(line for line in lines if vcf_cid in line)
    assert long_name in row and "sample_id=P1" in row and len(row) > 80  # piped: one row, not cut at 80
    assert "superpopulation=EUR" in row
    assert "imputation" not in table  # the compact table shows the fields that tell assets apart
    assert main(["storage", "ls", "--cids"]) == 0
    assert sorted(capsys.readouterr().out.split()) == sorted([vcf_cid, res_cid])
    assert main(["storage", "ls", "asset=prs_result", "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole[0]["cid"] == res_cid and whole[0]["imputation"] == "mean imputation from 2504 founders"

    assert main(["storage", "lineage", res_cid]) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("│")]
    this = next(line for line in rows if res_cid in line)
    parent = next(line for line in rows if vcf_cid in line)
    assert "this" in this and "prs_result" in this
    assert "made from" in parent and "genotypes_cid" in parent and long_name in parent
    assert main(["storage", "lineage", vcf_cid]) == 0
    used = next(line for line in capsys.readouterr().out.splitlines() if res_cid in line and line.startswith("│"))
    assert "used by" in used
    assert main(["storage", "lineage", res_cid, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["root"]["parents"][0]["cid"] == vcf_cid


def test_progress_bars_on_a_terminal_and_quiet_when_piped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    import prsgazer.cli.render as render

    args = ["reference", "synthesize", "-n", "20", "-m", "60", "--out", str(tmp_path / "p"), "--name", "x"]
    assert main(args) == 0
    piped = capsys.readouterr().err
    assert "simulating" not in piped and "\x1b[" not in piped and "━" not in piped  # piped: no bar, no escapes
    assert "20 samples" in piped  # the summary still comes
    screen = io.StringIO()
    monkeypatch.setattr(render, "err", Console(file=screen, force_terminal=True, width=100))
    assert main([*args[:-4], "--out", str(tmp_path / "q"), "--name", "x"]) == 0
    drawn = screen.getvalue()
    assert "20 samples × 60 variants: simulating" in drawn and "━" in drawn  # a bar per chromosome step

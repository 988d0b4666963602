"""The metadata store never loses records silently (issue 14, item 3).

An empty `metadata.json` used to show an empty store with exit 0, and the next `put` made the loss
permanent; a half-truncated one gave advice naming a backup and a command that did not exist. Now
every record change is journaled first, a damaged metadata file is refused (never written over),
`prsgazer storage check --rebuild` recovers the records, and `prsgazer storage gc` removes what no
record needs.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from prsgazer.assets import Vcf
from prsgazer.cli import main
from prsgazer.errors import StorageError
from prsgazer.storage import LocalStore, cid_of_bytes


def _put_three(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    cids = []
    for i in range(3):
        f = tmp_path / f"p{i}.vcf"
        f.write_bytes(f"person {i}\n".encode())
        assert main(["storage", "put", str(f), "--asset", "vcf", f"sample_id=P{i}"]) == 0
        cids.append(capsys.readouterr().out.strip())
    return cids


def _ls(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(["storage", "ls", "--json"])
    out, err = capsys.readouterr()
    return code, ([r["cid"] for r in json.loads(out)] if code == 0 else []), err


def _meta() -> Path:
    from prsgazer.config import get_settings

    return get_settings().home / "metadata.json"


@pytest.mark.parametrize("damage", ["empty", "half", "missing"])
def test_damaged_metadata_is_refused_never_overwritten_and_rebuilt(
    damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cids = _put_three(tmp_path, capsys)
    meta = _meta()
    text = meta.read_text()
    if damage == "empty":
        meta.write_text("")
    elif damage == "half":
        meta.write_text(text[: len(text) // 2])
    else:
        meta.unlink()
    before = meta.read_bytes() if meta.exists() else None
    # no door shows an empty store, and the next write is refused instead of making the loss permanent
    code, listed, err = _ls(capsys)
    assert code == 1 and listed == []
    assert "prsgazer storage check --rebuild" in err and "Traceback" not in err
    f = tmp_path / "new.vcf"
    f.write_bytes(b"a fourth person")
    assert main(["storage", "put", str(f), "--asset", "vcf"]) == 1
    assert "prsgazer storage check --rebuild" in capsys.readouterr().err
    assert (meta.read_bytes() if meta.exists() else None) == before
    # the advice works
    assert main(["storage", "check", "--rebuild"]) == 0
    out = capsys.readouterr().out
    assert "3 record(s)" in out
    code, listed, _ = _ls(capsys)
    assert code == 0 and sorted(listed) == sorted(cids)
    assert main(["storage", "put", str(f), "--asset", "vcf"]) == 0
    capsys.readouterr()
    assert main(["storage", "check"]) == 0
    assert "lost: 0" in capsys.readouterr().out


def test_rebuild_keeps_every_field_and_forgets_deleted_records(store: LocalStore, tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in ("a.vcf", "b.vcf", "c.vcf"))
    for p in (a, b, c):
        p.write_bytes(p.name.encode())
    ra = store.upload(Vcf(path=a, sample_id="A", coverage="wgs"))
    rb = store.upload(Vcf(path=b, sample_id="B"))
    store.update(ra.cid, superpopulation="EUR")
    store.delete(rb.cid)
    rc = store.upload(Vcf(path=c, sample_id="C"))
    expected = {r["cid"]: r for r in store._records()}
    store.meta_path.write_text("{")  # damaged
    with pytest.raises(StorageError, match="prsgazer storage check --rebuild"):
        store.query()
    report = store.rebuild()
    assert report.records == 2 and report.missing == [] and report.orphans == []
    assert {r["cid"]: r for r in store._records()} == expected
    assert store.get(ra.cid).superpopulation == "EUR" and store.get(rc.cid).sample_id == "C"
    assert not store.has(rb.cid)
    assert Path(report.previous or "").read_text() == "{"  # the damaged file is kept beside it


def test_a_torn_journal_line_is_skipped_and_the_rest_recovered(store: LocalStore, tmp_path: Path) -> None:
    cids = []
    for i in range(4):
        p = tmp_path / f"{i}.vcf"
        p.write_bytes(bytes([i]) * 10)
        cids.append(store.upload(Vcf(path=p)).cid)
    with open(store.journal.path, "ab") as fh:
        fh.write(b'{"op":"put","cid":"bafkrei')  # a writer killed mid-line
    lines = store.journal.path.read_bytes().splitlines()
    lines[1] = lines[1].replace(b'"put"', b'"pUt"')  # and one line damaged on disk
    store.journal.path.write_bytes(b"\n".join(lines))
    store.meta_path.write_text("")
    report = store.rebuild()
    assert report.bad_journal_lines == [2, 5]
    got = {r["cid"] for r in store._records()}
    assert got == set(cids) - {cids[1]} and report.orphans == [cids[1]]
    p = tmp_path / "after.vcf"
    p.write_bytes(b"after the rebuild")
    store.upload(Vcf(path=p))  # appending after a torn line starts a fresh line
    assert len(store.journal.replay().bad_lines) == 0  # (compacted by the rebuild)


def test_check_reports_records_the_metadata_lost(store: LocalStore, tmp_path: Path) -> None:
    p, q = tmp_path / "p.vcf", tmp_path / "q.vcf"
    p.write_bytes(b"p")
    q.write_bytes(b"q")
    store.upload(Vcf(path=p))
    old = store.meta_path.read_bytes()  # a backup restored over the file, say
    rq = store.upload(Vcf(path=q))
    store.meta_path.write_bytes(old)
    report = store.check()
    assert report["lost"] == [rq.cid] and report["orphan"] == [rq.cid]
    store.rebuild()
    assert store.check()["lost"] == [] and store.has(rq.cid)


def test_a_store_from_before_the_journal_gets_one(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    p = tmp_path / "p.vcf"
    p.write_bytes(b"p")
    cid = store.upload(Vcf(path=p, sample_id="X")).cid
    store.journal.path.unlink()  # as an older prsgazer left it
    again = LocalStore(tmp_path / "s")
    assert set(again.journal.replay().records) == {cid}
    again.meta_path.write_text("")
    again.rebuild()
    assert again.get(cid).sample_id == "X"


def test_journal_equals_metadata_after_concurrent_writers(tmp_path: Path) -> None:
    """The 4-process test of test_robustness, then the records rebuilt from the journal alone."""
    from .test_robustness import N_PROCS, N_UPLOADS, test_concurrent_processes_lose_nothing

    test_concurrent_processes_lose_nothing(tmp_path)
    store = LocalStore(tmp_path / "store")
    before = {r["cid"]: r for r in store._records()}
    assert len(before) == N_PROCS * (N_UPLOADS - 1) + 1
    assert store.journal.replay().records == before
    store.meta_path.unlink()
    store.rebuild()
    assert {r["cid"]: r for r in store._records()} == before


def _old(path: Path, days: float = 2.0) -> None:
    t = time.time() - days * 86400
    os.utime(path, (t, t))


def test_gc_removes_orphans_temp_files_and_old_run_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from prsgazer.config import get_settings

    s = get_settings()
    keep = tmp_path / "keep.vcf"
    keep.write_bytes(b"a recorded person")
    assert main(["storage", "put", str(keep), "--asset", "vcf"]) == 0
    kept_cid = capsys.readouterr().out.strip()
    store = LocalStore(s.home)
    orphan = store.blobs / cid_of_bytes(b"x" * 5000)  # bytes whose record is gone (a killed upload, say)
    orphan.write_bytes(b"x" * 5000)
    _old(orphan)
    dead_part = store.tmp / "999999999-abc.part"  # a writer that died mid-upload
    dead_part.write_bytes(b"p" * 100)
    old_run = s.cache_dir / "runs" / "score-20200101T000000-aaaa"
    old_run.mkdir(parents=True)
    (old_run / "x.tsv").write_bytes(b"r" * 300)
    _old(old_run)
    new_run = s.cache_dir / "runs" / "score-now-bbbb"  # a live operation's folder
    new_run.mkdir()
    old_tmp = s.cache_dir / "scorefiles" / ".tmp-abc.parquet"
    old_tmp.parent.mkdir(parents=True)
    old_tmp.write_bytes(b"t" * 70)
    _old(old_tmp)
    partial = s.cache_dir / "catalog" / "downloads" / "PGS1.txt.gz.part"  # resumable: kept
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"d" * 10)
    _old(partial)
    doomed = [orphan, dead_part, old_run, old_tmp]

    assert main(["storage", "gc", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for p in doomed:
        assert "would remove" in out and str(p) in out
    assert "total 5.5 KB" in out  # 5000 + 100 + 300 + 70 bytes
    assert all(p.exists() for p in doomed)

    assert main(["storage", "gc"]) == 0
    out = capsys.readouterr().out
    assert "removed" in out and "journal compacted" in out
    assert not any(p.exists() for p in doomed)
    assert new_run.exists() and partial.exists() and store.has(kept_cid)
    assert main(["storage", "check"]) == 0
    capsys.readouterr()
    assert main(["storage", "gc", "--dry-run"]) == 0
    assert "would remove: nothing" in capsys.readouterr().out


def test_gc_leaves_a_fresh_orphan_blob_alone(store: LocalStore) -> None:
    """An upload renames its blob into place just before it writes the record: a young orphan is left."""
    from prsgazer.storage.maintenance import collect_garbage

    young = store.blobs / cid_of_bytes(b"in flight")
    young.write_bytes(b"in flight")
    report = collect_garbage(store, None)
    assert report.items == [] and young.exists()
    assert [i.kind for i in collect_garbage(store, None, blob_grace=0).items] == ["orphan blob"]
    assert not young.exists()


def _commands_named_in_messages() -> list[tuple[str, str]]:
    import prsgazer

    src = Path(prsgazer.__file__).resolve().parent
    found = []
    for f in src.rglob("*.py"):
        for m in re.finditer(r"`prsgazer ([a-z][^`]*)`", f.read_text()):
            found.append((f"{f.relative_to(src)}", m.group(1)))
    return found


def test_every_command_a_message_names_exists() -> None:
    """Recovery advice must be runnable: every `prsgazer …` a message or docstring names is a command,
    and every --option it shows is one of that command's options."""
    import typer

    from prsgazer.cli import _register, app

    _register()
    root = typer.main.get_command(app)
    named = _commands_named_in_messages()
    bad = []
    checked = 0
    for where, text in named:
        words = [w for w in text.split() if w not in ("…", "...")]
        cmd: Any = root
        path: list[str] = []
        while words and hasattr(cmd, "commands") and not words[0].startswith(("-", "[")):
            alternatives = words[0].split("|")  # `bundle list|fetch`
            subs = [cmd.commands.get(a) for a in alternatives]
            if any(sub is None for sub in subs):
                bad.append(f"{where}: `prsgazer {text}`: no command {' '.join([*path, words[0]])}")
                break
            path.append(alternatives[0])
            cmd = subs[0]  # type: ignore[assignment]
            words = words[1:]
            if len(subs) > 1:
                words = []
        checked += 1
        if not path or path[0] == "run":  # options of `run` are the workflow's own parameters
            continue
        options = {o for p in cmd.params for o in getattr(p, "opts", [])}
        for w in words:
            for opt in re.findall(r"--[a-z][a-z0-9-]*", w):
                if opt not in options:
                    bad.append(f"{where}: `prsgazer {text}`: {' '.join(path)} has no option {opt}")
    assert not bad, "\n".join(bad)
    assert checked == len(named) > 30
    assert any("storage check --rebuild" in c for _, c in named) and any("storage gc" in c for _, c in named)

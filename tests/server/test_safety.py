"""Path escapes, oversize files, odd file types and bad arguments are refused with clear tool errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastmcp.exceptions import ToolError

from .conftest import upload_inputs

pytestmark = pytest.mark.anyio


async def stored_count(client) -> int:
    return (await client.call_tool("query_files", {})).structured_content["n_total"]


@pytest.mark.parametrize(
    "path",
    ["../outside.vcf.gz", "/etc/passwd", "sub/../../outside.vcf.gz", "~/outside.vcf.gz"],
)
async def test_paths_outside_the_allowed_dirs_are_refused(client, inputs: Path, path: str) -> None:
    (inputs.parent / "outside.vcf.gz").write_bytes(b"secret")
    (inputs / "sub").mkdir(exist_ok=True)
    with pytest.raises(ToolError) as exc:
        await client.call_tool("upload_file", {"path": path, "keyvalues": {"asset": "vcf"}})
    msg = str(exc.value)
    assert "upload_file bad input" in msg and ("outside the allowed directories" in msg or "does not exist" in msg)
    assert str(inputs) in msg  # says where files may come from
    assert "Traceback" not in msg
    assert await stored_count(client) == 0


async def test_symlink_escapes_are_refused_but_inner_links_work(client, inputs: Path) -> None:
    secret = inputs.parent / "secret.txt"
    secret.write_text("not yours")
    (inputs / "link.txt").symlink_to(secret)
    with pytest.raises(ToolError, match=r"outside the allowed directories \(through a symlink\)"):
        await client.call_tool("upload_file", {"path": "link.txt", "keyvalues": {"asset": "scoring_file"}})
    # a directory symlink leading out is refused the same way
    (inputs.parent / "elsewhere").mkdir()
    (inputs.parent / "elsewhere" / "x.vcf.gz").write_bytes(b"x")
    (inputs / "dirlink").symlink_to(inputs.parent / "elsewhere")
    with pytest.raises(ToolError, match="outside the allowed directories"):
        await client.call_tool("upload_file", {"path": "dirlink/x.vcf.gz"})
    # a link that stays inside is followed
    (inputs / "alias.vcf.gz").symlink_to(inputs / "cineca.vcf.gz")
    got = (await client.call_tool("upload_file", {"path": "alias.vcf.gz"})).structured_content
    assert got["source"] == str((inputs / "cineca.vcf.gz").resolve()) and got["file"]["asset"] == "vcf"
    assert await stored_count(client) == 1


async def test_non_regular_files_and_directories_are_refused(client, inputs: Path) -> None:
    os.mkfifo(inputs / "pipe.vcf")
    with pytest.raises(ToolError, match="not a regular file"):
        await client.call_tool("upload_file", {"path": "pipe.vcf"})
    (inputs / "adir.vcf").mkdir()
    with pytest.raises(ToolError, match="is a directory, not a file"):
        await client.call_tool("upload_file", {"path": "adir.vcf"})
    with pytest.raises(ToolError, match="does not exist"):
        await client.call_tool("upload_file", {"path": "missing.vcf.gz"})
    with pytest.raises(ToolError, match="path is empty"):
        await client.call_tool("upload_file", {"path": "  ", "keyvalues": {"asset": "vcf"}})
    assert await stored_count(client) == 0


async def test_oversize_files_are_refused(client, inputs: Path, monkeypatch) -> None:
    from prsgazer.config import reset_settings

    big = inputs / "big.vcf"
    with big.open("wb") as f:
        f.truncate(5 * 1024 * 1024 + 1)  # one byte over the fixture's limit (sparse: no disk used)
    with pytest.raises(ToolError, match=r"5,242,881 bytes, more than the upload limit of 5,242,880") as exc:
        await client.call_tool("upload_file", {"path": "big.vcf"})
    assert "PRSGAZER_MCP_MAX_UPLOAD_BYTES" in str(exc.value)
    monkeypatch.setenv("PRSGAZER_MCP_MAX_UPLOAD_BYTES", "100")
    reset_settings()
    with pytest.raises(ToolError, match="more than the upload limit of 100"):
        await client.call_tool("upload_file", {"path": "cineca.vcf.gz"})
    assert await stored_count(client) == 0


async def test_bad_upload_arguments(client, inputs: Path) -> None:
    (inputs / "notes.txt").write_text("some words\n")
    with pytest.raises(ToolError, match=r"type could not be detected.*one of .*scoring_file"):
        await client.call_tool("upload_file", {"path": "notes.txt"})
    # the path is checked first: a missing file is the first thing to fix, whatever else is wrong
    with pytest.raises(ToolError, match=r"missing\.vcf"):
        await client.call_tool("upload_file", {"path": "missing.vcf", "keyvalues": {"asset": "recipe"}})
    with pytest.raises(ToolError, match=r"allowed: .*vcf"):
        await client.call_tool("upload_file", {"path": "PGS001229_22.txt", "keyvalues": {"asset": "recipe"}})
    with pytest.raises(ToolError, match="colour"):
        await client.call_tool("upload_file", {"path": "cineca.vcf.gz", "keyvalues": {"colour": "red"}})
    with pytest.raises(ToolError, match="'task_key' is set by tasks"):
        await client.call_tool("upload_file", {"path": "cineca.vcf.gz", "keyvalues": {"task_key": "abc"}})
    with pytest.raises(ToolError, match="'cid' is set by the store"):
        await client.call_tool("upload_file", {"path": "cineca.vcf.gz", "keyvalues": {"cid": "bafkreiabc"}})
    # wrong argument types are refused before the tool runs, naming the argument
    with pytest.raises(ToolError, match="keyvalues"):
        await client.call_tool("upload_file", {"path": "cineca.vcf.gz", "keyvalues": "asset=vcf"})
    with pytest.raises(ToolError, match="path"):
        await client.call_tool("upload_file", {"keyvalues": {"asset": "vcf"}})
    assert await stored_count(client) == 0


async def test_no_tool_reads_or_deletes_outside_the_store(client, inputs: Path) -> None:
    await upload_inputs(client)
    for bad in ("../../etc/passwd", "/etc/passwd", "bafkrei../../x", "not-a-cid"):
        with pytest.raises(ToolError) as exc:
            await client.call_tool("delete_file", {"cid": bad})
        assert "delete_file bad input" in str(exc.value)
        with pytest.raises(ToolError):
            await client.call_tool("download_file", {"cid": bad})
        with pytest.raises(ToolError):
            await client.call_tool("lineage", {"cid": bad})
        with pytest.raises(ToolError):
            await client.call_tool("explain_result", {"cid": bad})
    assert Path("/etc/passwd").exists() and await stored_count(client) == 2


async def test_download_destination_must_be_allowed(client, inputs: Path, tmp_path: Path) -> None:
    _, sf_cid = await upload_inputs(client)
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(ToolError, match="outside the allowed directories"):
        await client.call_tool("download_file", {"cid": sf_cid, "dest_dir": str(outside)})
    (inputs / "escape").symlink_to(outside)
    with pytest.raises(ToolError, match="outside the allowed directories"):
        await client.call_tool("download_file", {"cid": sf_cid, "dest_dir": "escape"})
    with pytest.raises(ToolError, match="is not a directory"):
        await client.call_tool("download_file", {"cid": sf_cid, "dest_dir": "cineca.vcf.gz"})
    # a symlink planted where the file would go is not written through
    (inputs / "d").mkdir()
    (inputs / "d" / "PGS001229_22.txt").symlink_to(outside / "target.txt")
    with pytest.raises(ToolError, match="not a regular file; not overwritten"):
        await client.call_tool("download_file", {"cid": sf_cid, "dest_dir": "d"})
    assert list(outside.iterdir()) == []


async def test_bad_arguments_of_other_tools(client) -> None:
    with pytest.raises(ToolError, match="limit must be at least 1"):
        await client.call_tool("query_files", {"limit": 0})
    with pytest.raises(ToolError, match=r"list_tasks bad input: argument 'kind': Input should be 'task' or 'workflow' "
                       r"\(got 'job'\)"):  # fmt: skip
        await client.call_tool("list_tasks", {"kind": "job"})
    with pytest.raises(ToolError, match="empty search text"):
        await client.call_tool("search_scores", {"text": " "})
    with pytest.raises(ToolError, match="limit"):
        await client.call_tool("query_files", {"limit": "many"})
    with pytest.raises(ToolError, match="Unknown tool"):
        await client.call_tool("rm_rf", {})


async def test_upload_refuses_a_hard_link_to_a_file_outside(client, inputs: Path) -> None:
    """The reproduction: a hard link inside the allowed directory to a file outside it was read."""
    secret = inputs.parent / "secret.vcf"
    secret.write_bytes(b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    os.link(secret, inputs / "innocent.vcf")
    with pytest.raises(ToolError, match="has 2 hard links") as exc:
        await client.call_tool("upload_file", {"path": "innocent.vcf", "keyvalues": {"asset": "vcf"}})
    assert "copy the file" in str(exc.value)
    assert await stored_count(client) == 0


async def test_download_file_hands_out_a_copy(client, inputs: Path) -> None:
    """`download_file` handed out hard links to blobs: editing the "copy" changed the stored bytes."""
    from prsgazer.storage import cid_of_file, default_store

    _, cid = await upload_inputs(client)
    blob = default_store().blob_path(cid)
    for args in ({"cid": cid}, {"cid": cid, "dest_dir": str(inputs / "out")}):
        (inputs / "out").mkdir(exist_ok=True)
        got = Path((await client.call_tool("download_file", args)).structured_content["path"])
        assert os.stat(got).st_ino != os.stat(blob).st_ino and os.stat(got).st_nlink == 1
        os.chmod(got, 0o644)
        got.write_bytes(b"edited by the user")
        assert cid_of_file(blob) == cid
        if "dest_dir" in args:  # a downloaded copy has one link: it can be uploaded again
            got.unlink()
            await client.call_tool("download_file", args)
            kv = {"asset": "scoring_file"}
            again = await client.call_tool("upload_file", {"path": f"out/{got.name}", "keyvalues": kv})
            assert again.structured_content["already_stored"] is True

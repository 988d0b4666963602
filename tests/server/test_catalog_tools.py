"""search_scores and score_info against a fake PGS Catalog on 127.0.0.1, through the MCP client."""

from __future__ import annotations

import pytest
from fastmcp.exceptions import ToolError

pytestmark = pytest.mark.anyio


async def test_search_downloads_metadata_once_then_searches_offline(client, catalog, monkeypatch) -> None:
    from prsgazer.config import reset_settings

    steps: list[str | None] = []

    async def on_progress(progress, total, message) -> None:
        steps.append(message)

    got = (
        await client.call_tool("search_scores", {"text": "breast cancer"}, progress_handler=on_progress)
    ).structured_content
    assert [h["pgs_id"] for h in got["hits"]] == ["PGS000001", "PGS000002"]
    assert got["catalog_release"] == "2024-06-11" and "downloaded and stored" in got["notes"][0]
    assert any("PGS Catalog metadata" in (m or "") for m in steps)
    top = got["hits"][0]
    assert top["quality"] == "C-index 0.622 (modest)" and top["trait_efo"] == ["EFO_0000305 breast carcinoma"]
    assert "GRCh38" in top["builds"] and top["publication"].startswith("Mavaddat N")

    # offline now: the stored metadata answers
    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", "http://127.0.0.1:9/rest/")
    monkeypatch.setenv("PRSGAZER_CATALOG_FTP_URL", "http://127.0.0.1:9/pub/databases/spot/pgs/")
    reset_settings()
    again = (
        await client.call_tool("search_scores", {"text": "cancer", "ancestry": "EAS", "limit": 5})
    ).structured_content
    assert [h["pgs_id"] for h in again["hits"]] == ["PGS000001", "PGS000802"] and again["notes"] == []
    none = (await client.call_tool("search_scores", {"text": "xyzzy"})).structured_content
    assert none["n"] == 0 and "fewer or broader words" in none["notes"][0]
    with pytest.raises(ToolError, match="build"):
        await client.call_tool("search_scores", {"text": "cancer", "build": "hg99"})
    with pytest.raises(ToolError, match="limit must be at least 1"):
        await client.call_tool("search_scores", {"text": "cancer", "limit": 0})


async def test_search_without_network_or_metadata_is_a_clear_error(client, monkeypatch) -> None:
    from prsgazer.config import reset_settings

    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", "http://127.0.0.1:9/rest/")
    monkeypatch.setenv("PRSGAZER_CATALOG_FTP_URL", "http://127.0.0.1:9/pub/databases/spot/pgs/")
    monkeypatch.setenv("PRSGAZER_CATALOG_RETRIES", "0")
    reset_settings()
    import time

    t0 = time.monotonic()
    with pytest.raises(ToolError) as exc:
        await client.call_tool("search_scores", {"text": "breast cancer"})
    assert time.monotonic() - t0 < 5
    text = str(exc.value)
    assert "search_scores failed" in text and "127.0.0.1:9" in text and "could not be reached" in text
    assert "stored scoring files" in text and "Traceback" not in text


async def test_score_info_offline_answers_from_stored_metadata(client, catalog, monkeypatch) -> None:
    """The catalog unreachable: score_info comes from the stored metadata at once, and says so."""
    import time

    from prsgazer.config import reset_settings

    await client.call_tool("search_scores", {"text": "breast cancer"})  # stores the metadata once
    monkeypatch.setenv("PRSGAZER_CATALOG_REST_URL", "http://127.0.0.1:9/rest/")
    monkeypatch.setenv("PRSGAZER_CATALOG_FTP_URL", "http://127.0.0.1:9/pub/databases/spot/pgs/")
    reset_settings()
    t0 = time.monotonic()
    info = (await client.call_tool("score_info", {"pgs_id": "PGS000001"})).structured_content
    assert time.monotonic() - t0 < 5
    assert info["source"].startswith("stored catalog metadata, release 2024-06-11")
    assert info["trait_reported"] == "Breast cancer" and info["n_evaluations"] >= 1
    assert info["best"]["ppm_id"] == "PPM000001" and info["best"]["quality"]["value"] == 0.622
    with pytest.raises(ToolError, match="could not be reached"):
        await client.call_tool("score_info", {"pgs_id": "PGS009999"})  # not in the stored release


async def test_score_info(client, catalog) -> None:
    info = (await client.call_tool("score_info", {"pgs_id": "PGS000001"})).structured_content
    assert info["pgs_id"] == "PGS000001" and info["trait_reported"] == "Breast cancer"
    assert info["n_evaluations"] >= len(info["evaluations"]) >= 1
    assert info["best"]["quality"]["label"] in {"poor", "modest", "good", "strong", "none"}
    assert "GRCh38" in info["files"]
    one = (await client.call_tool("score_info", {"pgs_id": "pgs000001", "max_evaluations": 1})).structured_content
    assert one["pgs_id"] == "PGS000001" and len(one["evaluations"]) == 1
    with pytest.raises(ToolError, match="score_info bad input"):
        await client.call_tool("score_info", {"pgs_id": "PGS999999"})
    with pytest.raises(ToolError, match="score_info bad input"):
        await client.call_tool("score_info", {"pgs_id": "not an id"})

"""Retrospective search: the index, encrypted galleries, deletion for good, rebuilds, and the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.errors import (
    EncryptionKeyError,
    NotAllowedError,
    NotFoundError,
    PolicyViolation,
    ProviderUnavailableError,
)
from openlfr.search.gallery import GallerySearcher, GalleryStore, index_settings
from openlfr.search.index import IndexSettings, TemplateBlocks, TemplateIndex
from openlfr.settings import SearchSettings, get_settings
from openlfr.store.models import AuditEvent
from tests.cli_support import sign_in
from tests.waiting import wait_for


def clustered(rng: np.random.Generator, size: int, dimension: int = 128) -> np.ndarray:
    centres = rng.normal(size=(32, dimension)).astype(np.float32)
    rows = centres[rng.integers(0, 32, size)] * 0.6 + rng.normal(size=(size, dimension)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def noisy(rows: np.ndarray, rng: np.random.Generator, amount: float = 0.5) -> np.ndarray:
    probes = rows + amount * clustered(rng, len(rows), rows.shape[1])
    return probes / np.linalg.norm(probes, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["pq", "ivf", "ivfpq", "hnsw"])
def test_approximate_index_agrees_with_exact_and_forgets_deleted_rows(kind: str) -> None:
    rng = np.random.default_rng(3)
    gallery = clustered(rng, 20_000)
    queries = noisy(gallery[:40], rng)
    settings = IndexSettings(kind=kind, nlist=64, nprobe=16, pq_bytes=16, rerank=200)
    exact, approximate = TemplateIndex(gallery, IndexSettings(kind="exact")), TemplateIndex(gallery, settings)
    _, exact_rows = exact.search(queries, 10)
    scores, rows = approximate.search(queries, 10)
    assert (rows[:, 0] == np.arange(40)).all()  # each probe's own mate is first
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact_rows, rows, strict=True)])
    assert recall >= 0.95
    found = rows >= 0
    tolerance = 5e-4 if kind == "pq" else 1e-5  # pq re-scores on float16 copies
    np.testing.assert_allclose(
        scores[found], np.einsum("qd,qkd->qk", queries, gallery[rows])[found], atol=tolerance
    )
    for index in (exact, approximate):
        index.remove(np.arange(10))
        _, after = index.search(queries[:10], 10)
        assert not np.isin(after, np.arange(10)).any()
        assert len(index) == 19_990


def test_large_galleries_get_the_full_scan_pq_index_and_keep_their_neighbours() -> None:
    rng = np.random.default_rng(8)
    gallery = clustered(rng, 30_000, 512)
    queries = noisy(gallery[:30], rng)
    chosen = TemplateIndex(gallery, IndexSettings(exact_limit=10_000, candidates=0.02))
    assert chosen.kind == "pq" and chosen.templates is None  # no float32 copy is kept
    memory = chosen.memory_bytes()
    assert memory["templates"] == 0
    assert memory["index"] == len(gallery) * (48 + 1024)  # 48 B of codes and a float16 copy each
    _, truth = TemplateIndex(gallery, IndexSettings(kind="exact")).search(queries, 10)
    _, rows = chosen.search(queries, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, rows, strict=True)]) >= 0.98
    assert TemplateIndex(gallery[:5_000], IndexSettings(exact_limit=10_000)).kind == "exact"


def test_pq_shards_built_block_by_block_answer_as_one_index() -> None:
    rng = np.random.default_rng(12)
    gallery = clustered(rng, 30_000, 64)
    queries = noisy(gallery[[5, 10_500, 29_999]], rng)
    read: list[int] = []

    def block(i: int) -> np.ndarray:
        read.append(i)
        return gallery[i * 4_000 : (i + 1) * 4_000]

    blocks = TemplateBlocks(count=30_000, dimension=64, blocks=8, read=block)
    index = TemplateIndex(blocks, IndexSettings(kind="pq", shard_rows=12_000, candidates=0.05))
    assert [part.ntotal for part in index.parts] == [10_000, 10_000, 10_000]
    assert sorted(set(read)) == list(range(8))  # every block read, none kept whole
    _, truth = TemplateIndex(gallery, IndexSettings(kind="exact")).search(queries, 10)
    scores, rows = index.search(queries, 10)
    assert rows[:, 0].tolist() == [5, 10_500, 29_999]  # mates in the first, middle and last shard
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, rows, strict=True)]) >= 0.9
    assert (np.diff(scores, axis=1) <= 0).all()  # merged best first
    index.remove(np.array([10_500]))
    assert 10_500 not in index.search(queries, 10)[1]
    assert index.search(queries[:1], 40_000)[1].max() < 30_000  # asking for more than exist pads


def test_exact_search_pads_small_galleries() -> None:
    rng = np.random.default_rng(0)
    scores, rows = TemplateIndex(clustered(rng, 3)).search(clustered(rng, 2), 5)
    assert (rows[:, 3:] == -1).all() and np.isinf(scores[:, 3:]).all() and (rows[:, :3] >= 0).all()


def on_the_torch_cpu(fp16: bool = False) -> IndexSettings:
    pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    return index_settings(SearchSettings(index="torch", torch_device="cpu", torch_fp16=fp16))


def test_the_device_index_is_exact_in_every_slice_and_forgets_deleted_rows(monkeypatch) -> None:
    from openlfr.search import device_index

    rng = np.random.default_rng(5)
    gallery = clustered(rng, 20_000)
    queries = noisy(gallery[:40], rng)
    exact_scores, exact_rows = TemplateIndex(gallery, IndexSettings(kind="exact")).search(queries, 10)
    monkeypatch.setattr(device_index, "SCORES_PER_SLICE", 40 * 3_000)  # seven slices, merged by top-k
    index = TemplateIndex(gallery, on_the_torch_cpu())
    assert index.kind == "torch" and index.templates is None  # no float32 copy kept on the host
    assert index.memory_bytes()["device"] == gallery.nbytes
    scores, rows = index.search(queries, 10)
    assert np.array_equal(rows, exact_rows)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-6)
    index.remove(np.arange(10))
    _, after = index.search(queries[:10], 10)
    assert not np.isin(after, np.arange(10)).any() and len(index) == 19_990
    half = TemplateIndex(gallery, on_the_torch_cpu(fp16=True))
    assert half.memory_bytes()["device"] == gallery.nbytes // 2
    half_scores, half_rows = half.search(queries, 10)
    assert (half_rows[:, 0] == np.arange(40)).all()
    found = half_rows >= 0
    np.testing.assert_allclose(  # float16 templates: within 1e-3 of the float32 cosine
        half_scores[found], np.einsum("qd,qkd->qk", queries, gallery[half_rows])[found], atol=1e-3
    )
    small = TemplateIndex(clustered(rng, 3), on_the_torch_cpu())
    padded_scores, padded_rows = small.search(clustered(rng, 2), 5)
    assert (padded_rows[:, 3:] == -1).all() and np.isinf(padded_scores[:, 3:]).all()


def test_every_index_kind_can_be_set() -> None:
    from typing import get_args

    from openlfr.search.index import KINDS

    assert set(get_args(SearchSettings.model_fields["index"].annotation)) == set(KINDS)


def test_the_device_index_refuses_a_missing_gpu() -> None:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (make test installs it)")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ProviderUnavailableError, match="no CUDA device"):
        TemplateIndex(np.eye(4, dtype=np.float32), index_settings(SearchSettings(index="torch")))


def test_galleries_are_searched_with_the_index_the_settings_name(gov, monkeypatch) -> None:
    on_the_torch_cpu()
    rng = np.random.default_rng(4)
    templates = clustered(rng, 2_000, 64)
    store = GalleryStore(gov, "national")
    store.write([f"p{i}" for i in range(2_000)], ["-"] * 2_000, templates, "admin", "gallery.build")
    monkeypatch.setattr(gov.settings, "search", SearchSettings(index="torch", torch_device="cpu"))
    searcher = GallerySearcher(store)
    assert searcher.index.kind == "torch" and "cpu" in searcher.index.summary
    probes = noisy(templates[:5], rng)
    found = searcher.search(probes, 3, "officer", "case 1", "probe")
    assert [candidates[0].label for candidates in found] == [f"p{i}" for i in range(5)]
    assert not list(store.folder.glob("*index-torch*"))  # nothing to seal: the sealed templates are the index
    store.delete_label("p0", "admin", "erasure request")
    searcher.rebuild().join()
    again = searcher.search(probes[:1], 3, "officer", "case 1", "probe")[0]
    assert "p0" not in {c.label for c in again} and len(searcher.index) == 1_999


def test_gallery_at_rest_is_sealed_and_deletion_is_for_good(gov, tmp_path) -> None:
    rng = np.random.default_rng(5)
    templates = clustered(rng, 3_000, 512)
    labels = [f"person-{i // 3}" for i in range(3_000)]
    store = GalleryStore(gov, "custody")
    store.write(labels, [f"img/{i}.jpg" for i in range(3_000)], templates, "admin", "gallery.build")
    on_disk = b"".join(p.read_bytes() for p in store.folder.iterdir())
    for row in (0, 1_500, 2_999):
        assert templates[row].tobytes()[:64] not in on_disk  # no template in clear
    assert b"person-42" not in on_disk and b"img/7.jpg" not in on_disk
    searcher = GallerySearcher(store, IndexSettings(kind="ivf", nlist=32, nprobe=32))
    results = searcher.search(templates[[3, 4]], 5, "investigator", "case 1234", "probe.jpg")
    assert [r[0].label for r in results] == ["person-1", "person-1"]

    assert store.delete_label("person-1", "admin", "acquitted: record deleted") == 3
    labels_after, _, remaining = store.read()
    assert "person-1" not in labels_after and len(remaining) == 2_997
    on_disk = b"".join(p.read_bytes() for p in store.folder.iterdir())
    assert not any(templates[row].tobytes()[:64] in remaining.tobytes() for row in (3, 4, 5))
    searcher.rebuild().join()
    after = searcher.search(templates[[3, 4, 5]], 10, "investigator", "case 1234", "probe.jpg")
    assert all(c.label != "person-1" for result in after for c in result)
    with pytest.raises(NotFoundError):
        store.delete_label("person-1", "admin", "again")
    with pytest.raises(PolicyViolation):
        searcher.search(templates[:1], 5, "investigator", "", "probe.jpg")
    with gov.store.session() as session:
        actions = [
            e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.object_type == "gallery"))
        ]
    assert actions == [
        "gallery.build",
        "gallery.search",
        "gallery.delete",
        "gallery.delete_subject",
        "gallery.search",
    ]
    gov.store.destroy_data_key(store.key)
    gov.store._data_keys.clear()
    with pytest.raises(EncryptionKeyError):
        store.read()


def wrapped_key(gov, key: str) -> bytes | None:  # type: ignore[no-untyped-def]
    with gov.store.key_engine.connect() as connection:
        query = "SELECT wrapped_key FROM data_keys WHERE deployment_id = ?"
        return connection.exec_driver_sql(query, (key,)).scalar()


def test_a_copy_of_the_gallery_taken_before_a_deletion_is_unreadable_after_it(gov, tmp_path) -> None:
    import shutil

    rng = np.random.default_rng(6)
    store = GalleryStore(gov, "custody")
    labels = ["keep-1", "erase-me", "keep-2"]
    store.write(
        labels, ["a.jpg", "b.jpg", "c.jpg"], rng.normal(size=(3, 64)).astype(np.float32), "admin", "build"
    )
    old_key = store.key
    wrapped = wrapped_key(gov, old_key)
    assert wrapped is not None
    backup = tmp_path / "copy-of-the-gallery"
    shutil.copytree(store.folder, backup)

    store.delete_label("erase-me", "admin", "erasure request 77")
    assert store.key != old_key and store.entries()[0] == ["keep-1", "keep-2"]
    assert wrapped_key(gov, old_key) is None
    stolen = next(backup.glob("*entries.sealed"))
    with pytest.raises(EncryptionKeyError):
        gov.store.open(old_key, stolen.read_bytes(), f"{old_key}:{stolen.stem}")
    keystore = gov.store.key_engine.url.database
    assert wrapped not in Path(keystore).read_bytes()  # gone from the key store's file, not only its table
    with gov.store.session() as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "gallery.delete_subject"))
    assert "erase-me" not in str(event.details) and event.reason == "erasure request 77"


def test_pq_gallery_seals_its_shards_and_loads_them_without_rebuilding(gov, monkeypatch) -> None:
    rng = np.random.default_rng(13)
    templates = clustered(rng, 30_000, 64)
    store = GalleryStore(gov, "national")
    store.write([str(i) for i in range(30_000)], ["-"] * 30_000, templates, "admin", "gallery.build")
    settings = IndexSettings(kind="pq", shard_rows=12_000, candidates=0.05)
    first = GallerySearcher(store, settings)
    parts = sorted(p.name for p in store.folder.glob("*index-*.sealed"))
    assert parts == ["g1-index-pq-000.sealed", "g1-index-pq-001.sealed", "g1-index-pq-002.sealed"]
    on_disk = b"".join(p.read_bytes() for p in store.folder.iterdir())
    assert templates[20_000].astype(np.float16).tobytes()[:32] not in on_disk  # float16 copies sealed too

    def no_rebuild(*_):  # type: ignore[no-untyped-def]
        raise AssertionError("the sealed shards should have been loaded")

    monkeypatch.setattr("openlfr.search.index.build_pq", no_rebuild)
    second = GallerySearcher(store, settings)
    for searcher in (first, second):
        found = searcher.search(templates[[20_000, 3]], 1, "investigator", "case 9", "probe.jpg")
        assert [r[0].label for r in found] == ["20000", "3"]


def test_rewrites_go_chunk_by_chunk_and_commit_only_when_whole(gov, monkeypatch) -> None:
    monkeypatch.setattr("openlfr.search.gallery.CHUNK_ROWS", 1_000)
    rng = np.random.default_rng(14)
    templates = clustered(rng, 3_500, 32)
    labels, sources = [f"p{i // 5}" for i in range(3_500)], [f"{i}.jpg" for i in range(3_500)]
    store = GalleryStore(gov, "streamed")
    store.write(labels, sources, templates, "admin", "gallery.build")
    assert (store.manifest()["generation"], store.manifest()["chunks"]) == (1, 4)
    with pytest.raises(ValueError):  # rows that do not match their labels: nothing changes
        store.write(labels[:10], sources[:10], iter([templates[:20]]), "admin", "gallery.build")
    assert store.manifest()["generation"] == 1
    np.testing.assert_array_equal(store.read()[2], templates)

    assert store.delete_label("p300", "admin", "record deleted") == 5  # rows 1,500–1,504, second chunk
    labels_after, sources_after, remaining = store.read()
    np.testing.assert_array_equal(remaining, np.delete(templates, np.arange(1_500, 1_505), axis=0))
    assert "p300" not in labels_after and sources_after[1_500] == "1505.jpg"
    assert store.manifest()["generation"] == 2
    assert all(p.name.startswith("g2-") for p in store.folder.glob("*.sealed"))  # generation 1 is gone


def test_searches_continue_during_a_rebuild(gov) -> None:
    rng = np.random.default_rng(9)
    templates = clustered(rng, 30_000, 64)
    store = GalleryStore(gov, "big")
    store.write([str(i) for i in range(30_000)], ["-"] * 30_000, templates, "admin", "gallery.build")
    searcher = GallerySearcher(store, IndexSettings(kind="ivf", nlist=128, nprobe=16))
    for part in store.folder.glob("*index-*.sealed"):
        part.unlink()  # force a full rebuild
    answered: list[str] = []
    rebuild = searcher.rebuild()
    while rebuild.is_alive():
        answered.append(searcher.search(templates[:1], 1, "a", "test", "p")[0][0].label)
    rebuild.join()
    assert answered and set(answered) == {"0"}
    assert searcher.search(templates[7:8], 1, "a", "test", "p")[0][0].label == "7"


def test_gallery_and_search_commands(tmp_path: Path, monkeypatch, samples, demo_material) -> None:
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    runner = CliRunner()
    people = tmp_path / "people"
    for name in ("yao_ming", "player_9"):
        (people / name).mkdir(parents=True)
        source = next((demo_material["watchlist"] / name).iterdir())
        (people / name / source.name).write_bytes(source.read_bytes())
    (people / "player_9" / "broken.jpg").write_bytes(b"not an image")
    try:
        sign_in("custodian", "watchlist_manager")
        built = runner.invoke(app, ["gallery", "build", "custody", str(people)])
        assert built.exit_code == 0, built.output
        errors = " ".join(built.stderr.split())
        assert "2 templates of 2 people" in built.stdout and "broken.jpg" in errors.replace(" ", "")
        assert "not an image" in errors  # the reason, not just the name
        sign_in("det", "operator")
        still = runner.invoke(
            app,
            [
                "search",
                str(samples["players"]),
                "--gallery",
                "custody",
                "--reason",
                "op X",
                "--top",
                "2",
                "--faces",
                "all",
                "--output",
                str(tmp_path / "still.csv"),
            ],
        )
        assert still.exit_code == 0, still.output
        rows = list(csv.DictReader((tmp_path / "still.csv").open()))
        yao = [r for r in rows if r["label"] == "yao_ming" and float(r["score"]) > 0.45]
        assert len(yao) == 1 and yao[0]["rank"] == "1"  # one face of the team photo is him
        video = runner.invoke(
            app,
            [
                "search",
                str(demo_material["video"]),
                "--gallery",
                "custody",
                "--reason",
                "op X",
                "--output",
                str(tmp_path / "video.csv"),
            ],
        )
        assert video.exit_code == 0, video.output
        tracks = list(csv.DictReader((tmp_path / "video.csv").open()))
        probes = {r["probe"] for r in tracks}
        assert 5 <= len(probes) < 200  # per track, far fewer than faces × frames
        best = max(tracks, key=lambda r: float(r["score"]))
        assert best["label"] == "yao_ming" and best["rank"] == "1" and float(best["score"]) > 0.45
        refused = runner.invoke(app, ["gallery", "delete", "custody", "yao_ming", "--reason", "r"])
        assert refused.exit_code == NotAllowedError.exit_code  # searching is not managing
        sign_in("custodian", "watchlist_manager")
        deleted = runner.invoke(app, ["gallery", "delete", "custody", "yao_ming", "--reason", "r"])
        assert deleted.exit_code == 0, deleted.output
        sign_in("det", "operator")
        again = runner.invoke(
            app,
            ["search", str(samples["yaoming"]), "--gallery", "custody", "--reason", "op X"],
        )
        assert again.exit_code == 0 and "yao_ming" not in again.stdout and "player_9" in again.stdout
        missing = runner.invoke(
            app, ["search", str(samples["yaoming"]), "--gallery", "nope", "--reason", "r"]
        )
        assert missing.exit_code != 0 and "no gallery named nope" in missing.output
    finally:
        get_settings.cache_clear()


def test_search_through_the_api(tmp_path: Path, analyzer, samples, demo_material) -> None:
    from fastapi.testclient import TestClient

    from tests.api_support import bearer, make_app, make_gov, token

    gov = make_gov(tmp_path, analyzer)
    names = ("yao_ming", "player_9", "player_20")
    templates = np.stack(
        [
            analyzer.subject_face(
                analyzer.load(next((demo_material["watchlist"] / n).iterdir()))
            ).face.embedding
            for n in names
        ]
    )
    GalleryStore(gov, "custody").write(list(names), ["custody"] * 3, templates, "admin", "gallery.build")
    with TestClient(make_app(gov), base_url="https://testserver") as client:
        operator = bearer(token(gov, "operator"))
        url = "/api/galleries/custody/search"
        photo = {"image": ("probe.jpg", samples["yaoming"].read_bytes())}
        found = client.post(url, files=photo, data={"reason": "case 17", "top": "2"}, headers=operator)
        assert found.status_code == 200, found.text
        (probe,) = found.json()["probes"]
        assert probe["candidates"][0]["label"] == "yao_ming" and len(probe["candidates"]) == 2
        assert client.post(url, files=photo, data={"top": "2"}, headers=operator).status_code == 422
        assert (
            client.post(
                url, files=photo, data={"reason": "x"}, headers=bearer(token(gov, "auditor"))
            ).status_code
            == 403
        )
        missing = client.post(
            "/api/galleries/none/search", files=photo, data={"reason": "x"}, headers=operator
        )
        assert missing.status_code == 404
        listed = client.get("/api/galleries", headers=operator).json()
        assert [(g["name"], g["count"]) for g in listed] == [("custody", 3)]

        video = demo_material["video"].read_bytes()
        clip = {"video": ("cctv.mp4", video)}
        tracked = client.post(url, files=clip, data={"reason": "case 18", "top": "1"}, headers=operator)
        assert tracked.status_code == 200, tracked.text
        best = {
            p["candidates"][0]["label"] for p in tracked.json()["probes"] if p["candidates"][0]["score"] > 0.5
        }
        assert "yao_ming" in best, tracked.json()
        assert all(p["probe"].startswith("track ") for p in tracked.json()["probes"])
        for broken in (b"not a video at all", video[: len(video) // 3]):
            bad = client.post(
                url, files={"video": ("x.mp4", broken)}, data={"reason": "case 19"}, headers=operator
            )
            assert bad.status_code == 415 and "video" in bad.json()["detail"], bad.text
    with gov.store.session() as session:
        searches = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "gallery.search")))
    assert [(e.actor, e.reason) for e in searches] == [("operator", "case 17"), ("operator", "case 18")]


def test_an_uploaded_video_over_the_limits_is_refused_before_it_is_decoded(
    tmp_path: Path, analyzer, demo_material
) -> None:
    from fastapi.testclient import TestClient

    from tests.api_support import bearer, make_app, make_gov, token

    video = demo_material["video"].read_bytes()
    for limit, why in (
        ({"max_upload_video_pixels": 320 * 240}, "pixels"),
        ({"max_upload_video_frames": 10}, "frames"),
    ):
        gov = make_gov(tmp_path / why, analyzer, **limit)
        GalleryStore(gov, "custody").write(
            ["x"], ["custody"], np.eye(1, 512, dtype=np.float32), "admin", "gallery.build"
        )
        with TestClient(make_app(gov), base_url="https://testserver") as client:
            refused = client.post(
                "/api/galleries/custody/search",
                files={"video": ("big.mp4", video)},
                data={"reason": "case 20"},
                headers=bearer(token(gov, "operator")),
            )
        assert refused.status_code == 413 and why in refused.json()["detail"], refused.text


def h264_frames(size: int, count: int) -> bytes:
    """A raw H.264 stream of ``count`` grey pictures of ``size`` pixels square."""
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for _ in range(count):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), 128, np.uint8), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def test_an_uploaded_video_cannot_read_files_or_grow_its_pictures(tmp_path: Path, monkeypatch) -> None:
    from openlfr.errors import VideoDecodeError
    from openlfr.search.probes import VideoLimits, memory_frames

    small = h264_frames(64, 5)
    (tmp_path / "cctv.h264").write_bytes(small)
    monkeypatch.chdir(tmp_path)  # a concat list naming a file beside the service
    with pytest.raises(VideoDecodeError, match="not a video that can be decoded"):
        list(memory_frames(b"ffconcat version 1.0\nfile cctv.h264\n"))
    assert len(list(memory_frames(small))) == 5
    grows = small + h264_frames(256, 1)  # the header says 64×64; a later picture is 256×256
    limits = VideoLimits(max_pixels=128 * 128)
    with pytest.raises(VideoDecodeError, match=r"over 16,384 pixels after \d frame"):
        list(memory_frames(grows, limits=limits))


def test_a_loaded_searcher_leaves_out_at_once_who_another_process_deleted(gov) -> None:
    rng = np.random.default_rng(8)
    templates = rng.normal(size=(30, 64)).astype(np.float32)
    labels = [f"person-{i}" for i in range(30)]
    GalleryStore(gov, "custody").write(labels, ["-"] * 30, templates, "admin", "gallery.build")
    searcher = GallerySearcher(GalleryStore(gov, "custody"))  # as the service holds it
    assert searcher.search(templates[:1], 3, "officer", "case 2", "probe")[0][0].label == "person-0"
    GalleryStore(gov, "custody").delete_label("person-0", "admin", "erasure request")  # another process
    answer = searcher.search(templates[:1], 3, "officer", "case 2", "probe")[0]
    assert len(answer) == 3 and all(c.label != "person-0" for c in answer)
    assert wait_for(lambda: searcher.generation == 2 and searcher.allowed is None, 10.0)
    assert all(c.label != "person-0" for c in searcher.search(templates[:1], 5, "officer", "c", "p")[0])


def test_a_deletion_cut_short_or_blocked_is_finished_later(gov, tmp_path) -> None:
    """A crash after the new generation's key was made does not block later deletions; a key whose
    erasure a reader of the key store blocked is erased by the next purge run."""
    import sqlite3

    from openlfr.governance.retention import purge
    from openlfr.search.gallery import key_id

    assert len(key_id("x" * 64, 999_999)) <= 32  # fits the key store's column on PostgreSQL too
    rng = np.random.default_rng(9)
    store = GalleryStore(gov, "custody")
    store.write(["a", "b", "c"], ["-"] * 3, rng.normal(size=(3, 64)).astype(np.float32), "admin", "build")
    gov.store.create_data_key(key_id("custody", 2))  # what a kill -9 during a rewrite leaves
    (store.folder / "g2-templates-00007.sealed").write_bytes(b"half of a generation")
    assert store.delete_label("a", "admin", "erasure request") == 1
    assert store.entries()[0] == ["b", "c"] and not (store.folder / "g2-templates-00007.sealed").exists()

    old_key = store.key
    wrapped = wrapped_key(gov, old_key)
    keystore = Path(gov.store.key_engine.url.database)
    reader = sqlite3.connect(keystore)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM data_keys").fetchone()  # a backup, say, reading the key store
    store.delete_label("b", "admin", "erasure request")
    reader.rollback()
    reader.close()
    purge(gov)
    files = b"".join(p.read_bytes() for p in keystore.parent.glob(keystore.name + "*"))
    assert wrapped_key(gov, old_key) is None and wrapped not in files

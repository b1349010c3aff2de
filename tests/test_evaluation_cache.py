"""The evaluation cache: reused when nothing changed, encrypted at rest, and re-keyed safely."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openlfr.evaluation.datasets import Embedder
from openlfr.store.crypto import new_key


def test_second_run_hits_the_cache_and_the_file_is_sealed(analyzer, samples, tmp_path: Path) -> None:
    paths = [samples["yaoming"], samples["gdp"], samples["players"]]
    key = new_key()
    first_embedder = Embedder(analyzer, tmp_path, key)
    first = first_embedder.embed("demo", paths)
    second_embedder = Embedder(analyzer, tmp_path, key)
    second = second_embedder.embed("demo", paths)
    np.testing.assert_array_equal(first.plain, second.plain)
    assert first_embedder.last_cache.misses == 3
    assert second_embedder.last_cache.hits == 3 and second_embedder.last_cache.misses == 0
    cache_files = list(tmp_path.glob("*.sealed"))
    assert len(cache_files) == 1
    blob = cache_files[0].read_bytes()
    assert blob.startswith(b"OLFR1")
    assert first.plain[0].tobytes()[:32] not in blob  # no template in clear

    rekeyed = Embedder(
        analyzer, tmp_path, new_key()
    )  # another master key: the old cache is ignored, not an error
    third = rekeyed.embed("demo", paths)
    assert rekeyed.last_cache.misses == 3
    np.testing.assert_allclose(third.plain, first.plain, atol=1e-5)

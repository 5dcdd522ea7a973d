"""Published benchmark files: pinned to a commit, downloaded from a real HTTP server (on 127.0.0.1, serving the
byte-identical copies in ../shared/data at the published paths), verified by sha256 and cached; offline,
unreachable and tampered sources each give one line that says what to do."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from dart_trl.config import RecipeError
from dart_trl.eval.benchmarks import BENCHMARKS, get_benchmark, load_benchmark
from dart_trl.eval.sources import RAW_FILES_URL_ENV, PinnedFile, fetch_pinned, file_sha256

# benchmark -> (its copy in ../shared/data, rows)
SHARED_COPIES = {
    "college_math": ("college-math-test.jsonl", 2818),
    "deepmind_math": ("deepmind-mathematics.json", 1000),
    "olympiadbench": ("olympiadbench-OE_TO_maths_en_COMP.json", 675),
    "theoremqa": ("theoremqa.json", 800),
    "aime24": ("aime24-test.jsonl", 30),
    "amc23": ("amc23-test.jsonl", 40),
    "minerva_math": ("minerva-math-test.jsonl", 272),
}
PINNED = {name: b.source for name, b in BENCHMARKS.items() if isinstance(b.source, PinnedFile)}


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and counts the GET requests it answered; silent."""

    requests: list[str]

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def raw_files(tmp_path, shared_data, monkeypatch):
    """A local stand-in for raw.githubusercontent.com: ``<owner>/<name>/<commit>/<path>`` holds the shared copy."""
    www = tmp_path / "www"
    for name, (copy, _) in SHARED_COPIES.items():
        pinned = PINNED[name]
        target = www / pinned.repo / pinned.commit / pinned.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((shared_data / copy).read_bytes())
    handler = type("Handler", (CountingHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(RAW_FILES_URL_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    yield www, handler.requests
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_every_published_file_is_pinned_and_the_shared_copies_match_the_pins(shared_data):
    assert set(PINNED) == set(SHARED_COPIES)
    for name, pinned in PINNED.items():
        assert len(pinned.commit) == 40 and len(pinned.sha256) == 64
        assert "/main/" not in pinned.url() and pinned.commit in pinned.url()
        assert file_sha256(shared_data / SHARED_COPIES[name][0]) == pinned.sha256, name


def test_download_verifies_caches_and_later_runs_read_the_cache(raw_files, tmp_path, monkeypatch):
    _, requests = raw_files
    cache = tmp_path / "cache"
    for name, (_, rows) in SHARED_COPIES.items():
        loaded = load_benchmark(get_benchmark(name), cache_dir=str(cache))
        assert len(loaded.items) == rows
        assert loaded.sha256 == [PINNED[name].sha256] and PINNED[name].commit in loaded.source
        assert file_sha256(PINNED[name].cache_path(cache)) == PINNED[name].sha256
    assert len(requests) == len(SHARED_COPIES)
    assert not list(cache.rglob("*.part"))
    # Offline now: the verified copies in the cache are enough, and nothing is requested.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name, (_, rows) in SHARED_COPIES.items():
        assert len(load_benchmark(get_benchmark(name), cache_dir=str(cache)).items) == rows
    assert len(requests) == len(SHARED_COPIES)


def test_a_damaged_cached_copy_is_fetched_again(raw_files, tmp_path):
    _, requests = raw_files
    pinned = PINNED["amc23"]
    cached = pinned.cache_path(tmp_path / "cache")
    cached.parent.mkdir(parents=True)
    cached.write_text('{"problem": "edited by hand", "answer": "1"}\n')
    assert fetch_pinned(pinned, tmp_path / "cache") == cached
    assert file_sha256(cached) == pinned.sha256 and len(requests) == 1


def test_a_tampered_download_is_one_line_naming_file_expected_and_got(raw_files, tmp_path):
    www, _ = raw_files
    pinned = PINNED["theoremqa"]
    served = www / pinned.repo / pinned.commit / pinned.path
    served.write_bytes(served.read_bytes().replace(b'"Answer": true', b'"Answer": false', 1))
    with pytest.raises(RecipeError) as err:
        load_benchmark(get_benchmark("theoremqa"), cache_dir=str(tmp_path / "cache"))
    message = str(err.value)
    assert "\n" not in message and message.startswith("benchmark 'theoremqa': ")
    assert pinned.url() in message and f"expected {pinned.sha256}" in message
    assert f"got {file_sha256(served)}" in message
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # nothing unverified is kept


def test_unreachable_file_names_the_benchmark_and_the_data_files_to_set(raw_files, tmp_path):
    www, _ = raw_files
    pinned = PINNED["college_math"]
    (www / pinned.repo / pinned.commit / pinned.path).unlink()
    with pytest.raises(RecipeError) as err:
        load_benchmark(get_benchmark("college_math"), cache_dir=str(tmp_path / "cache"))
    message = str(err.value)
    assert "\n" not in message and "benchmark 'college_math'" in message and "404" in message
    assert "{name: college_math, data_files: path/to/college-math-test.jsonl}" in message
    assert pinned.sha256 in message


def test_offline_without_a_cached_copy_names_the_setting_and_the_data_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RecipeError) as err:
        load_benchmark(get_benchmark("deepmind_math"), cache_dir=str(tmp_path / "cache"))
    message = str(err.value)
    assert "HF_HUB_OFFLINE=1" in message and "not in the cache" in message
    assert "{name: deepmind_math, data_files: path/to/deepmind-mathematics.json}" in message


def test_local_data_files_are_compared_with_the_pin(shared_data, tmp_path):
    same = load_benchmark(get_benchmark("aime24"), [str(shared_data / "aime24-test.jsonl")])
    assert same.matches_pinned is True
    edited = tmp_path / "aime24.jsonl"
    edited.write_text((shared_data / "aime24-test.jsonl").read_text().replace("\n", "\n\n", 1))
    assert load_benchmark(get_benchmark("aime24"), [str(edited)]).matches_pinned is False
    assert (
        load_benchmark(get_benchmark("gsm8k"), [str(shared_data / "gsm8k-test.jsonl")]).matches_pinned is None
    )


def test_hub_benchmark_offline_names_the_benchmark_and_the_local_ways_out(monkeypatch):
    monkeypatch.delenv("DART_TRL_DATA_MIRROR", raising=False)
    with pytest.raises(RecipeError) as err:  # conftest sets HF_DATASETS_OFFLINE=1
        load_benchmark(get_benchmark("math"))
    message = str(err.value)
    assert message.startswith("benchmark 'math': ") and "\n" not in message
    assert "{name: math, data_files: " in message
    assert "DigitalLearningGmbH--MATH-lighteval--test.parquet in $DART_TRL_DATA_MIRROR" in message

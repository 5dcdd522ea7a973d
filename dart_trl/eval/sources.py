"""Published benchmark files pinned to a commit: downloaded once, checked by sha256, kept in a cache.

A :class:`PinnedFile` names one file of a public GitHub repository at a fixed commit, with the sha256
of its bytes. :func:`fetch_pinned` returns the cached copy when its hash is right; otherwise it
downloads the file to a temporary name in the cache and renames it into place only once it is
complete and its hash matches, so a moved branch, an edited file or a cut download is never scored
and never left in the cache. With ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set nothing is
downloaded. ``DART_TRL_RAW_FILES_URL`` replaces ``https://raw.githubusercontent.com`` (a mirror of
GitHub's raw files: the hash still decides what is accepted).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dart_trl.config import RecipeError
from dart_trl.files import atomic_path, cache_dir

GITHUB_RAW = "https://raw.githubusercontent.com"
RAW_FILES_URL_ENV = "DART_TRL_RAW_FILES_URL"
OFFLINE_ENVS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 16


class SourceUnavailable(RecipeError):
    """A pinned file is neither cached nor downloadable (offline, unreachable, or no longer there)."""


@dataclass(frozen=True)
class PinnedFile:
    """A file of a public GitHub repository at a fixed commit, with the sha256 of its bytes."""

    repo: str  # owner/name
    commit: str  # 40 hex digits
    path: str  # inside the repository
    sha256: str

    @property
    def name(self) -> str:
        """The file name (the last part of its path)."""
        return PurePosixPath(self.path).name

    def url(self, base: str | None = None) -> str:
        """Where the file is published: ``<base>/<repo>/<commit>/<path>`` (base: GitHub's raw files)."""
        base = base or os.environ.get(RAW_FILES_URL_ENV) or GITHUB_RAW
        return f"{base.rstrip('/')}/{self.repo}/{self.commit}/{self.path}"

    def cache_path(self, cache_dir: str | os.PathLike) -> Path:
        """Where the verified copy is kept: ``<cache_dir>/<owner>--<name>/<commit>/<path>``."""
        return Path(cache_dir) / self.repo.replace("/", "--") / self.commit / self.path


def default_cache_dir() -> Path:
    """``benchmarks/`` in dart-trl's cache (:func:`dart_trl.files.cache_dir`)."""
    return cache_dir() / "benchmarks"


def offline_setting() -> str | None:
    """The variable that makes this machine offline (``HF_HUB_OFFLINE=1``), or None."""
    for name in OFFLINE_ENVS:
        if os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}:
            return f"{name}={os.environ[name]}"
    return None


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_pinned(
    file: PinnedFile, cache_dir: str | os.PathLike | None = None, base: str | None = None
) -> Path:
    """The verified local copy of ``file``: from the cache, else downloaded, checked and cached.

    Raises :class:`RecipeError` naming the URL, the expected and the actual sha256 when the download
    differs from the pin, and :class:`SourceUnavailable` when the file is not cached and cannot be
    downloaded (offline, unreachable, HTTP error). A cached copy whose hash is wrong is replaced.
    """
    target = file.cache_path(cache_dir or default_cache_dir())
    if target.is_file():
        if file_sha256(target) == file.sha256:
            return target
        target.unlink()  # damaged or edited by hand: fetch it again
    url = file.url(base)
    offline = offline_setting()
    if offline:
        raise SourceUnavailable(
            f"{url} is not in the cache ({target.parent}) and {offline} forbids downloads"
        )
    _download(url, target, file.sha256)
    return target


def _download(url: str, target: Path, expected: str) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename it into place if its sha256 is right."""
    digest = hashlib.sha256()
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as err:  # HTTPError is a URLError; timeouts are OSErrors
            reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", err)
            raise SourceUnavailable(f"could not download {url} ({reason})") from None
        got = digest.hexdigest()
        if got != expected:
            raise RecipeError(
                f"{url}: sha256 mismatch: expected {expected}, got {got} (the file was not kept)"
            )

"""Getting a model's bytes from a URL: the Hugging Face Hub through ``huggingface_hub``, any
other http(s) URL by a plain streamed GET. Both show a tqdm bar; neither checks a checksum
(``models.fetch`` does, on what they return).

A Hub URL is ``{endpoint}/[datasets/|spaces/]{owner}/{repo}/resolve/{revision}/{path}`` on
huggingface.co, hf.co or the host ``HF_ENDPOINT`` names; ``hf_hub_download`` fetches it into
the Hub's cache (``HF_HOME``), resuming a cut-off download and reusing a finished one.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_HUB_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
_HUB_REPO_TYPES = {"datasets": "dataset", "spaces": "space"}


class FetchError(RuntimeError):
    """A model could not be fetched; nothing was installed."""


class DownloadError(FetchError):
    """The download failed (unreachable, HTTP error, cut off)."""


@dataclass(frozen=True)
class HubFile:
    """One file of a Hub repository, as ``hf_hub_download`` names it."""

    endpoint: str  # scheme://host[:port] of the URL it came from
    repo_id: str
    filename: str
    revision: str
    repo_type: str = "model"


def hub_file(url: str, env: Mapping[str, str] | None = None) -> HubFile | None:
    """The Hub file ``url`` points at, or ``None`` when it is not a Hub file URL."""
    env = os.environ if env is None else env
    parts = urllib.parse.urlsplit(url)
    hosts = _HUB_HOSTS | {urllib.parse.urlsplit(env.get("HF_ENDPOINT", "")).netloc.lower()}
    if parts.scheme not in ("http", "https") or parts.netloc.lower() not in hosts - {""}:
        return None
    # Unquoted per segment: a revision such as refs%2Fpr%2F3 is one segment, refs/pr/3.
    segments = [urllib.parse.unquote(s) for s in parts.path.split("/") if s]
    repo_type = _HUB_REPO_TYPES.get(segments[0], "model") if segments else "model"
    if repo_type != "model":
        segments = segments[1:]
    # "blob" is the web page's address of the same file; people paste it.
    if len(segments) < 5 or segments[2] not in ("resolve", "blob"):
        return None
    return HubFile(
        endpoint=f"{parts.scheme}://{parts.netloc}",
        repo_id="/".join(segments[:2]),
        filename="/".join(segments[4:]),
        revision=segments[3],
        repo_type=repo_type,
    )


def _bar_class(progress: bool, desc: str):
    from tqdm import tqdm

    class Bar(tqdm):  # a plain tqdm: huggingface_hub's own hides itself when not on a TTY
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)  # huggingface_hub 1.x passes a name plain tqdm refuses
            kwargs.update(disable=not progress, unit_divisor=1024)
            kwargs["desc"] = desc or kwargs.get("desc")
            super().__init__(*args, **kwargs)

    return Bar


def hub_download(
    file: HubFile,
    *,
    progress: bool = True,
    timeout_s: float = 60.0,
    force: bool = False,
    desc: str = "",
) -> Path:
    """The file's path in the Hub cache (download it unless cached; ``force``: download again).

    ``DownloadError`` when the Hub cannot be reached and the file is not cached, or it answers
    with an error. The returned file belongs to the cache: copy it, never move it.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    # What a failed download raises: OSError subclasses (an unreachable Hub with nothing
    # cached, HTTP errors), EntryNotFoundError, ValueError (a malformed repo id), and the
    # HTTP client's own errors mid-transfer (httpx in 1.x, httpx2 later: the base HTTPError
    # of HfHubHTTPError). A TypeError and the like stay bugs, not download failures.
    client = [b for b in HfHubHTTPError.__mro__[1:] if b.__name__ == "HTTPError"]
    failures = (OSError, ValueError, EntryNotFoundError, *client)
    try:
        path = hf_hub_download(
            file.repo_id,
            file.filename,
            repo_type=file.repo_type,
            revision=file.revision,
            endpoint=file.endpoint,
            etag_timeout=timeout_s,
            force_download=force,
            tqdm_class=_bar_class(progress, desc),
        )
    except failures as exc:
        where = f"{file.endpoint}/{file.repo_id} ({file.filename} at {file.revision})"
        raise DownloadError(f"download of {where} from the Hugging Face Hub failed: {exc}") from exc
    return Path(path)


def download(
    url: str, dest: str | Path, *, progress: bool = True, timeout_s: float = 60.0, desc: str = ""
) -> Path:
    """Stream ``url`` to ``dest`` with a tqdm bar; ``DownloadError`` if it fails or is cut off."""
    from tqdm import tqdm

    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"only http(s) URLs can be downloaded, got {url!r} (use --from-file)")
    request = urllib.request.Request(url, headers={"User-Agent": "avatar-chat"})
    received, total = 0, None
    try:
        with (
            urllib.request.urlopen(request, timeout=timeout_s) as response,
            open(dest, "wb") as out,
        ):
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=desc or Path(dest).name, disable=not progress,
            ) as bar:  # fmt: skip
                while block := response.read(1 << 20):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
        raise DownloadError(f"download of {url} failed: {exc}") from exc
    # http.client returns a short body silently when the server closes early.
    if total is not None and received != total:
        raise DownloadError(f"download of {url} was cut off after {received} of {total} bytes")
    return Path(dest)


def fetch_url(
    url: str,
    work: Path,
    *,
    progress: bool = True,
    timeout_s: float = 60.0,
    force: bool = False,
    desc: str = "",
) -> tuple[Path, bool]:
    """Download ``url`` (Hub or plain HTTP); returns ``(path, owned)``.

    ``owned`` is True for a plain download written into ``work`` (the caller may move it),
    False for a file in the Hub's cache (the caller must copy it).
    """
    found = hub_file(url)
    if found is None:
        path = download(url, work / "download", progress=progress, timeout_s=timeout_s, desc=desc)
        return path, True
    path = hub_download(found, progress=progress, timeout_s=timeout_s, force=force, desc=desc)
    return path, False

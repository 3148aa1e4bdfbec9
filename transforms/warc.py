"""WARC archives: what FetchPages/FetchFeeds fetched, written out; and ReadWarc, which reads
WARC/ARC files (our own or e.g. Common Crawl News) as FetchedPages instead of fetching.

ReadWarc: file glob -> FetchedPage; unreadable files -> Failure(stage="warc").

Writing (``--warc_output DIR``): each fetch batch appends its successful responses to one
gzipped WARC file ``DIR/<run_id>-<uuid>.warc.gz``, written atomically. A page's response
record is followed by a ``metadata`` record (``WARC-Concurrent-To`` the response) holding
its feed item as JSON, so a re-run from the archive gets the same feed fallbacks (title,
date, authors) as the original run. Bodies are stored as decoded by the client (no
Content-Encoding), with the HTTP headers that matter.

Reading (``--warc_input GLOB``): every ``response`` record with status 200 and an HTML
body is an item; other statuses, non-HTML bodies (feeds, images) and request/revisit
records are counted as ``skipped_records``, not items (archives hold many).
Records without our metadata get a feed item built from the target URI alone.
"""

from __future__ import annotations

import io
import json
import uuid
import zlib
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.metrics import Metrics

from schemas.elements import UNIT_FEED, Failure, FeedItem, FetchedPage
from schemas.timeutil import utc_now_iso
from transforms._files import join, write_atomically
from transforms._http import HttpResponse
from transforms._urls import canonical_url
from transforms.fetch_pages import looks_like_html

__all__ = ["ReadWarc", "write_warc", "ITEM_METADATA_TYPE"]

STAGE = "warc"
ITEM_METADATA_TYPE = "application/vnd.newsbeam.feed-item+json"
_DROP_HEADERS = {"content-encoding", "transfer-encoding", "content-length", "connection"}


def _http_headers(resp: HttpResponse) -> Any:
    from warcio.statusandheaders import StatusAndHeaders

    headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in _DROP_HEADERS]
    headers.append(("Content-Length", str(len(resp.body))))
    return StatusAndHeaders(f"{resp.status} OK", headers, protocol="HTTP/1.1")


def write_warc(warc_dir: str, run_id: str, records: Iterable[tuple[HttpResponse, Optional[Any]]]) -> int:
    """Writes (response, feed item or None) pairs to one new WARC file; returns records written."""
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    count = 0
    for resp, item in records:
        record = writer.create_warc_record(
            resp.final_url, "response", payload=io.BytesIO(resp.body), http_headers=_http_headers(resp),
            warc_headers_dict={"WARC-Date": utc_now_iso()[:19] + "Z"})
        writer.write_record(record)
        if isinstance(item, FeedItem):
            meta = json.dumps(item._asdict(), default=list).encode("utf-8")
            writer.write_record(writer.create_warc_record(
                resp.final_url, "metadata", payload=io.BytesIO(meta), warc_content_type=ITEM_METADATA_TYPE,
                warc_headers_dict={"WARC-Concurrent-To": record.rec_headers.get_header("WARC-Record-ID")}))
        count += 1
    if count:
        path = join(warc_dir, f"{run_id}-{uuid.uuid4().hex[:12]}.warc.gz")
        data = buffer.getvalue()
        write_atomically(warc_dir, run_id, path, lambda handle: handle.write(data))
    return count


def _item_for(uri: str, meta: Optional[dict], source: str) -> FeedItem:
    if meta:
        fields = {k: meta.get(k) for k in FeedItem._fields}
        for seq in ("authors", "categories"):
            fields[seq] = list(fields[seq] or [])
        return FeedItem(**fields)
    return FeedItem(feed_url=source, link=uri, canonical_url=canonical_url(uri), guid=None, title=None,
                    summary=None, published=None, authors=[], categories=[])


class NotAnArchive(Exception):
    pass


class EmptyArchive(Exception):
    pass


def _archive_kind(head: bytes) -> Optional[str]:
    """'warc' or 'arc' from a file's first bytes (gzipped or not); None for anything else.

    warcio reads almost anything without complaint (garbage becomes odd records and a
    truncated file just ends), so the signature is checked here first.
    """
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, 64)
        except zlib.error:
            return None
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"filedesc://"):
        return "arc"
    return None


class _ReadWarcFn(beam.DoFn):
    FAILED = "failed"

    def __init__(self) -> None:
        self._items = Metrics.counter(STAGE, "items")
        self._skipped = Metrics.counter(STAGE, "skipped_records")
        self._files = Metrics.counter(STAGE, "files")
        self._failed = Metrics.counter(STAGE, "failed")

    def process(self, readable: fileio.ReadableFile) -> Iterator[FetchedPage]:
        from warcio.archiveiterator import ArchiveIterator

        path = readable.metadata.path
        self._files.inc()
        pending: Optional[tuple[str, FetchedPage]] = None
        records = 0
        try:
            with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                if _archive_kind(stream.read(4096)) is None:
                    raise NotAnArchive("no WARC/1.x or ARC header at the start of the file")
            with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                for record in ArchiveIterator(stream, arc2warc=True):
                    records += 1
                    kind = record.rec_type
                    if kind == "metadata" and pending is not None and record.rec_headers.get_header(
                            "WARC-Concurrent-To") == pending[0] and record.rec_headers.get_header(
                            "Content-Type") == ITEM_METADATA_TYPE:
                        meta = json.loads(record.content_stream().read().decode("utf-8"))
                        page = pending[1]
                        yield page._replace(item=_item_for(page.final_url, meta, path))
                        pending = None
                        continue
                    if pending is not None:
                        yield pending[1]
                        pending = None
                    if kind != "response" or record.http_headers is None or \
                            record.http_headers.get_statuscode() != "200":
                        self._skipped.inc()
                        continue
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    body = record.content_stream().read()
                    if not looks_like_html(record.http_headers.get_header("Content-Type"), body):
                        self._skipped.inc()  # feeds, images, PDFs: archived, but not articles
                        continue
                    date = record.rec_headers.get_header("WARC-Date") or utc_now_iso()
                    self._items.inc()
                    page = FetchedPage(_item_for(uri, None, path), uri, body,
                                       record.http_headers.get_header("Content-Type"), 200,
                                       date.replace("Z", "+00:00"))
                    pending = (record.rec_headers.get_header("WARC-Record-ID"), page)
            if pending is not None:
                yield pending[1]
            if records == 0:
                raise EmptyArchive("no record could be read (truncated?)")
        except Exception as exc:  # a truncated or corrupt archive: keep what was read, report the rest
            if pending is not None:
                yield pending[1]
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(self.FAILED, Failure.of(STAGE, path, exc, unit=UNIT_FEED))


class ReadWarc(beam.PTransform):
    """Reads WARC/ARC files matching ``pattern``; outputs ``pages`` (FetchedPage) and ``failed``.

    Args:
        pattern: a file glob on any Beam filesystem (``/data/*.warc.gz``, ``gs://b/cc-news/*``).
    """

    def __init__(self, pattern: str):
        super().__init__()
        self._pattern = pattern

    def expand(self, pbegin):
        return (
            pbegin
            | "MatchWarcs" >> fileio.MatchFiles(self._pattern)
            | "SpreadWarcs" >> beam.Reshuffle()
            | "OpenWarcs" >> fileio.ReadMatches()
            | "ReadRecords" >> beam.ParDo(_ReadWarcFn()).with_outputs(_ReadWarcFn.FAILED, main="pages")
        )

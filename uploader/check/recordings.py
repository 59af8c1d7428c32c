"""Recording URLs Invoca can still fetch. Invoca downloads a recording some time after the call is
ingested, so a presigned URL must stay valid for more than 24 hours (spec/invoca-call-ingestion.md);
one that expires sooner (or has expired) is refused on its row, with the time it expires.

A presigned URL says when it expires in its query string, each cloud in its own words:
- AWS Signature V4 (S3 presigned GET): `X-Amz-Date=20261203T120000Z` + `X-Amz-Expires=3600`;
- Google Cloud Storage V4: `X-Goog-Date` + `X-Goog-Expires`, the same forms;
- AWS Signature V2, Google V2 and CloudFront signed URLs: `Expires=1764763200` (epoch seconds);
- Azure Storage SAS: `se=2026-12-03T13:00:00Z` (the signed expiry, ISO 8601), beside `sig=`.
(AWS "Authenticating Requests: Using Query Parameters"; Google Cloud "Signed URLs"; Azure "Create a
service SAS"; CloudFront "Creating a signed URL using a canned policy".)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pandas as pd

from uploader.check.normalize import Normalized, blank_reasons
from uploader.read.arrowtext import matches

MIN_VALIDITY = timedelta(hours=24)
SIGNED = r"(?i)[?&](?:x-amz-expires|x-goog-expires|expires|se)="


def expiry(url: str) -> datetime | None:
    """When a presigned URL stops working, or None for a URL that does not say."""
    query = {key.lower(): value for key, value in parse_qsl(urlsplit(url).query)}
    for prefix in ("x-amz", "x-goog"):
        start, seconds = query.get(f"{prefix}-date"), query.get(f"{prefix}-expires")
        if start and seconds and seconds.isdigit():
            try:
                began = datetime.strptime(start, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            except ValueError:
                return None
            return began + timedelta(seconds=int(seconds))
    if "se" in query and "sig" in query:
        text = query["se"].replace("Z", "+00:00")
        try:
            found = datetime.fromisoformat(text)
        except ValueError:
            return None
        return found if found.tzinfo else found.replace(tzinfo=UTC)
    seconds = query.get("expires", "")
    if seconds.isdigit() and len(seconds) <= 12:
        return datetime.fromtimestamp(int(seconds), UTC)
    return None


def recording_expiry(urls: pd.Series, now: datetime | None = None) -> Normalized:
    """The recording URLs as they are, with a reason on each presigned one that has expired or
    expires within 24 hours of `now` (the upload, or the check)."""
    now = now or datetime.now(UTC)
    reasons = blank_reasons(urls.index)
    signed = urls.notna() & pd.Series(matches(urls, SIGNED), index=urls.index)
    for index, url in urls[signed].items():
        ends = expiry(str(url))
        if ends is None:
            continue
        when = ends.strftime("%Y-%m-%d %H:%M UTC")
        if ends <= now:
            reasons[index] = (
                f"expired on {when}: sign it again, valid for more than 24 hours "
                "(Invoca fetches recordings some time after the upload)"
            )
        elif ends - now <= MIN_VALIDITY:
            reasons[index] = (
                f"expires {when}, within 24 hours: Invoca fetches recordings later; sign it for "
                "longer (S3 allows 7 days)"
            )
    return Normalized(urls, reasons)

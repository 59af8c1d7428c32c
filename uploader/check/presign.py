"""S3 locations sent as links Invoca can fetch (--presign-recordings [DAYS]).

Amazon Connect writes each recording's place as `bucket/key` in the customer's own S3 (the contact
record's `Recording.Location`), and many exports name objects as `s3://bucket/key`. Invoca fetches
a recording from a URL some time after the upload, so such a location is sent as a presigned GET
URL, signed with the user's own AWS credentials (botocore's provider chain, as the s3 inputs use)
and valid for DAYS days; Signature V4 allows at most 7 (AWS "Sharing objects with presigned URLs").

Exactly once depends on what is hashed: the request body keeps the location (`s3://bucket/key`),
the journal's fingerprint and the dry run's requests file are made from it, and the signed URL is
put in only for the wire. A rerun a night later signs anew without the call seeming changed, and
no file the tool writes holds a signature.

A URL signed with temporary credentials (a role's, a session token's) stops working when they
expire, whatever its own expiry says: those are refused unless they last more than 24 hours.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from uploader.check.normalize import INVISIBLE, Normalized, blank_reasons
from uploader.errors import ConfigError
from uploader.read.arrowtext import matches

# What Invoca needs of a link's remaining life (spec/invoca-call-ingestion.md), and some spare for
# the time between signing a chunk and sending its last row.
MIN_LIFE = timedelta(hours=25)
S3_SCHEME = r"(?i)^s3a?://"
# A bucket name: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter
# or digit (AWS "Bucket naming rules"); the key is the rest, any text.
# Not lowercased: a name in capitals is no bucket's, and is refused rather than sent as another's.
LOCATION = re.compile(r"^(?i:s3a?://)?([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")
NOT_A_LOCATION = (
    "is not an S3 location (s3://bucket/key, or bucket/key as Amazon Connect writes it)"
)
HIDDEN = "holds an invisible character (pasted?): S3 would look for another key"
UNSIGNED = (
    "is an S3 location, which Invoca cannot read: add --presign-recordings to send it as a link "
    "signed with your AWS credentials (or --recording-by-id if Invoca reads your bucket)"
)


def recording_locations(
    urls: pd.Series, filenames: pd.Series, presign: bool
) -> tuple[Normalized, Normalized]:
    """The recording URLs and filenames to check and send, with a reason on each that cannot go.

    Without `presign`, an `s3://` value is refused (a store's path has no scheme, and no URL
    client reads it). With it, an `s3://` URL, and a filename where the row has no URL, is the
    location `s3://bucket/key` in the URL column (hashed as it is; signed when sent)."""
    url_reasons, name_reasons = blank_reasons(urls.index), blank_reasons(filenames.index)
    schemed = urls.str.contains(S3_SCHEME, regex=True).fillna(False).astype(bool)
    if not presign:
        url_reasons[schemed] = UNSIGNED
        named = filenames.str.contains(S3_SCHEME, regex=True).fillna(False).astype(bool)
        name_reasons[named] = UNSIGNED
        return Normalized(urls, url_reasons), Normalized(filenames, name_reasons)
    from_name = filenames.notna() & urls.isna()
    given = urls.where(schemed, filenames.where(from_name))
    parts = given.str.strip().str.extract(LOCATION)
    hidden = pd.Series(matches(given, INVISIBLE), index=given.index).fillna(False).astype(bool)
    located = given.notna() & parts[0].notna()
    # a value that is no location keeps its cell, so that its row is refused saying why
    locations = ("s3://" + parts[0] + "/" + parts[1]).where(located)
    urls = urls.where(~((schemed | from_name) & located), locations).astype("string")
    filenames = filenames.where(~(from_name & located)).astype("string")
    for reasons, asked in ((url_reasons, schemed), (name_reasons, from_name)):
        reasons[asked & ~located] = NOT_A_LOCATION
        reasons[asked & hidden] = HIDDEN
    return Normalized(urls, url_reasons), Normalized(filenames, name_reasons)


def split(location: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    bucket, _, key = location.removeprefix("s3://").partition("/")
    return bucket, key


class Presigner:
    """Signs S3 locations with the user's AWS credentials, one client per bucket's region.

    Made before anything is sent: a missing s3 extra, no credentials, or credentials that expire
    within 24 hours are a ConfigError (exit 2). `sign` runs on the thread that checks rows (one at
    a time): it may look up a bucket's region over the network, once; signing itself is local."""

    def __init__(self, days: int, now: datetime | None = None) -> None:
        try:
            import botocore.session
            from botocore.config import Config
        except ImportError:
            raise ConfigError(
                "--presign-recordings needs the s3 extra: pip install 'invoca-upload[s3]'"
            ) from None
        self.days = days
        self._config = Config(signature_version="s3v4")  # V2 links are deprecated
        self._aws_config = self._config.merge(Config(s3={"addressing_style": "virtual"}))
        self._session = botocore.session.get_session()
        now = now or datetime.now(UTC)
        self.warning = _credentials_last(self._session, now, days)
        self._default_region = self._session.get_config_variable("region") or "us-east-1"
        self._clients: dict[str, Any] = {}
        self._regions: dict[str, str | Exception] = {}
        self.signed = 0  # locations signed so far (the summary's note)

    def sign(self, locations: pd.Series) -> tuple[pd.Series, dict[Any, str]]:
        """Presigned GET URLs for `s3://bucket/key` values (others: NA), and why a bucket's
        objects cannot be signed (no such bucket, S3 not reachable), by row."""
        signed = pd.Series(pd.NA, index=locations.index, dtype="object")
        problems: dict[Any, str] = {}
        for row, location in locations.dropna().items():
            bucket, key = split(str(location))
            region = self._region(bucket)
            if isinstance(region, Exception):
                problems[row] = f"cannot be signed: {region}"
                continue
            signed[row] = self._client(region).generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=int(self.days * 86400),
            )
            self.signed += 1
        return signed, problems

    def _client(self, region: str) -> Any:
        """The region's S3 client. On AWS itself, links name the region's own host
        (`bucket.s3.eu-west-1.amazonaws.com`): the global one answers a bucket younger than a day
        with a redirect to it, which breaks the signature over the host. Elsewhere (MinIO, a
        test server, `AWS_ENDPOINT_URL_S3`) the endpoint as configured, path-style."""
        if region not in self._clients:
            client = self._session.create_client("s3", region_name=region, config=self._config)
            if _on_aws(client.meta.endpoint_url):
                client = self._session.create_client(
                    "s3", region_name=region, config=self._aws_config
                )
            self._clients[region] = client
        return self._clients[region]

    def _region(self, bucket: str) -> str | Exception:
        """The bucket's region (a URL signed for another is refused by S3), from HeadBucket's
        `x-amz-bucket-region`, which S3 gives even when it refuses the request itself."""
        if bucket in self._regions:
            return self._regions[bucket]
        from botocore.exceptions import BotoCoreError, ClientError

        found: str | Exception
        try:
            answer = self._client(self._default_region).head_bucket(Bucket=bucket)
            headers = answer["ResponseMetadata"]["HTTPHeaders"]
            found = headers.get("x-amz-bucket-region") or self._default_region
        except ClientError as error:
            headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket"):
                found = LookupError(f"no bucket named {bucket} in S3")
            else:
                found = headers.get("x-amz-bucket-region") or self._default_region
        except BotoCoreError as error:  # S3 not reachable, endpoint unknown
            found = OSError(f"S3 could not be asked where bucket {bucket} is ({error})")
        self._regions[bucket] = found
        return found


def _on_aws(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _credentials_last(session: Any, now: datetime, days: int) -> str | None:
    """Refuse credentials whose links would die before Invoca fetches them; a warning when they
    cut the links' life short of DAYS."""
    from botocore.exceptions import BotoCoreError

    try:
        credentials = session.get_credentials()
    except BotoCoreError as error:
        raise ConfigError(
            f"--presign-recordings: AWS credentials could not be read ({error})"
        ) from None
    if credentials is None:
        raise ConfigError(
            "--presign-recordings: no AWS credentials found (AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or ~/.aws/credentials)"
        )
    if not credentials.token:
        return None
    ends = getattr(credentials, "_expiry_time", None)
    if ends is None:
        raise ConfigError(
            "--presign-recordings: the AWS credentials are temporary (a session token) and "
            "their end is not known: a link they sign stops working when they expire, maybe "
            "before Invoca fetches it; sign with an IAM user's access keys, or use "
            "--recording-by-id if Invoca reads your bucket"
        )
    if ends - now < MIN_LIFE:
        raise ConfigError(
            f"--presign-recordings: the AWS credentials are temporary and expire "
            f"{ends.astimezone(UTC):%Y-%m-%d %H:%M UTC}: a link they sign stops working then, "
            "before Invoca fetches it; sign with an IAM user's access keys, or use "
            "--recording-by-id if Invoca reads your bucket"
        )
    if ends < now + timedelta(days=days):
        return (
            f"recording links stop working {ends.astimezone(UTC):%Y-%m-%d %H:%M UTC}, when the "
            f"temporary AWS credentials that sign them expire, not in {days} days"
        )
    return None

"""The exception tree says what happens next, not what went wrong.

    IngestdError
    ├── ConfigError            the configuration is unusable: refuse to start (exit 2)
    ├── Interrupted            the daemon is stopping: the file stays in work/ and resumes
    ├── Transient              try the same step again later: the file stays in work/
    │   ├── ReceiverUnavailable    no complete answer: connection refused or reset, timeout
    │   ├── SpoolIOError           a local read or write failed (disk full, I/O error):
    │   │                          nothing was recorded
    │   └── ParserUnavailable      no parser process could be started
    ├── FileFailed             this file cannot be ingested: failed/ with a report (its `kind`
    │   │                      is the report's `reason`)
    │   ├── InvalidInput           the file's content is malformed or not records
    │   ├── UnsafeFile             not a regular file, hard-linked, or swapped under us
    │   ├── ReceiverRejected       the receiver refused the data for good
    │   │   ├── ReceiverUnauthorized   with 401 or 403: the token or the signing secret
    │   │   ├── RecordTooLarge         with 413, for a chunk of one record
    │   │   └── ReceiverLostState      it keeps losing what it stored of this ingestion
    │   ├── JournalCorrupt         the journal is damaged beyond a torn last line
    │   ├── WorkDamaged            files in work/ changed behind the daemon's back
    │   └── InternalError          a bug: the same file met unexpected errors too often
    └── ReadAgain              inside staging only: read the file again from its first byte
        ├── Declined               a fast reader is not sure: the reference reader decides
        └── Reread                 a reader learned what changes records it already gave

Foreign exceptions are translated where they are met, into the most specific class here:
httpx's in pipeline/sender.py, OSError in fs/ and in the parser process, a parser library's in
its reader. An answer the receiver gave is not an exception but a decision (core/protocol.py):
408, 425, 429, 5xx and a 2xx that is not JSON are `RetryLater`, with Retry-After. Anything
else that escapes a file's ingestion is a bug: the file is tried again, and after
`max_internal_errors` in a row it fails with `InternalError`. tests/test_errors.py checks every
translation and that this drawing names every class.
"""

from __future__ import annotations

from typing import Any


class IngestdError(Exception):
    """Root of every error ingestd raises on purpose."""


class ConfigError(IngestdError):
    """The configuration cannot be used; the message names the key and the problem."""


class Interrupted(IngestdError):
    """The daemon is stopping; the file stays in work/ and resumes from its journal."""


class Transient(IngestdError):
    """Something outside the file is wrong for now; the same step is tried again later.
    `label` names the kind of trouble with a bounded set of words, for the metrics."""

    label = "transient"

    def __init__(self, reason: str, label: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if label is not None:
            self.label = label

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.reason, self.label)


class ReceiverUnavailable(Transient):
    """The receiver could not be reached, or gave no complete answer."""

    label = "connection"


class SpoolIOError(Transient):
    """A local read or write failed; progress was not recorded and will be retried."""

    label = "local_io"


class ParserUnavailable(Transient):
    """No parser process could be started; the file waits in work/ and is staged later."""

    label = "parser"


class FileFailed(IngestdError):
    """This file is done for: it goes to failed/ with a report of what, where and what to do."""

    kind = "failed"
    advice = "Inspect the report, fix the file, and move it back into the inbox to ingest it again."

    def __init__(self, message: str, **where: Any) -> None:
        super().__init__(message)
        self.message = message
        self.where = {k: v for k, v in where.items() if v is not None}

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.message, self.where)


def _rebuild(kind: type[FileFailed], message: str, where: dict[str, Any]) -> FileFailed:
    return kind(message, **where)


class InvalidInput(FileFailed):
    kind = "invalid_input"
    advice = (
        "Fix or re-export the file so that it is valid, then move it back into the inbox. "
        "Nothing from this file was sent to the receiver."
    )


class UnsafeFile(FileFailed):
    kind = "unsafe_file"
    advice = (
        "Drop a plain regular file (not a link, device or FIFO) into the inbox; "
        "move a copy of the data back into the inbox if it should be ingested."
    )


class ReceiverRejected(FileFailed):
    kind = "receiver_rejected"
    advice = (
        "The receiver refused this data; read its answer below, fix the cause on either side, "
        "then move the file back into the inbox to start a new ingestion."
    )


class ReceiverUnauthorized(ReceiverRejected):
    kind = "receiver_unauthorized"
    advice = (
        "The receiver refused the request as unauthorized (HTTP 401 or 403): check that the "
        "callback token (callback_token_file) and the signing secret (signing_secret_file) are "
        "the ones the receiver expects, on both sides, then move the file back into the inbox."
    )


class RecordTooLarge(ReceiverRejected):
    kind = "record_too_large"
    advice = (
        "The receiver refuses a single record of this file as too large (HTTP 413). Raise the "
        "receiver's request size limit (PHP post_max_size, the web server's body limit), or "
        "make the record smaller, then move the file back into the inbox."
    )


class ReceiverLostState(ReceiverRejected):
    kind = "receiver_lost_state"
    advice = (
        "The receiver keeps forgetting the chunks it acknowledged, so this file cannot be "
        "delivered whole. Make the receiver keep its chunk state durably (in a database, not in "
        "memory), then move the file back into the inbox to start a new ingestion."
    )


class JournalCorrupt(FileFailed):
    kind = "journal_corrupt"
    advice = (
        "The progress journal is damaged, so ingestd cannot tell what the receiver already has. "
        "Check the receiver's state for this ingestion, then move the file back into the inbox "
        "to start a new ingestion."
    )


class WorkDamaged(FileFailed):
    kind = "work_damaged"
    advice = (
        "A file in work/ was changed, truncated or removed while ingestd owned it, so what was "
        "sent cannot be vouched for. Check the receiver's state for this ingestion, then move an "
        "intact copy of the file into the inbox to start a new ingestion."
    )


class InternalError(FileFailed):
    kind = "internal_error"
    advice = (
        "ingestd met an unexpected error on this file, again and again: that is a bug in "
        "ingestd, not a fault of the file. Please report it with this report (and the file, if "
        "you can). After an upgrade, move the file back into the inbox to ingest it again."
    )


class ReadAgain(IngestdError):
    """Inside staging only: the file is read again from its first byte."""


class Declined(ReadAgain):
    """A fast reader is not sure of the file; its reference reader decides, and explains."""


class Reread(ReadAgain):
    """The reader learned something that changes records it already gave (a column with
    values under an empty header, when renaming); it noted it in the ReadDetails, and the file
    is read again from the start with them."""

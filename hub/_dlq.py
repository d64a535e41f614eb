"""The dead-letter stream: durable work that kept failing, held for a person to look at and replay.

A consumer of durable work (process steps, payment events) that cannot get a message through after
several attempts, or keeps dying while handling it, buries it here instead of retrying forever or
dropping it. The letter keeps the message as it was (subject, headers, data) and says where it came
from and why it was given up. ``mpp-hub dlq replay`` publishes it again to its subject; the replay is
written to the audit log first (who, what, when), so no replay goes unrecorded. Replays do not weaken
"exactly once": every effect behind a durable message is idempotent (a payment is posted by the
bank's own reference), so a message replayed twice still applies once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from nats.aio.msg import Msg
from nats.js.api import StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from contracts import mask_text
from hub._audit import AuditEntry, AuditLog
from hub._streams import ensure_stream
from hub._time import utcnow

__all__ = ["DLQ_CONFIG", "DLQ_STREAM", "DeadLetter", "DeadLetters", "NoSuchLetter"]

DLQ_STREAM = "MPP_DLQ"
_SUBJECT = "mpp.dlq"
#: nats-server's error codes for deleting a message that is no longer there: "no message found" (a 500), and
#: "sequence not found" (a 400) when it was the stream's last.
_ALREADY_DELETED = {10057, 10043}
DLQ_CONFIG = StreamConfig(
    name=DLQ_STREAM,
    subjects=[f"{_SUBJECT}.>"],
    storage=StorageType.FILE,
    max_age=180 * 24 * 3600.0,  # long enough to outlast any holiday of the people who look at it
    duplicate_window=600.0,
)
_H_STREAM, _H_SEQ, _H_SUBJECT = "Mpp-Dlq-Stream", "Mpp-Dlq-Seq", "Mpp-Dlq-Subject"
_H_DELIVERIES, _H_REASON, _H_AT = "Mpp-Dlq-Deliveries", "Mpp-Dlq-Reason", "Mpp-Dlq-At"
_OURS = (_H_STREAM, _H_SEQ, _H_SUBJECT, _H_DELIVERIES, _H_REASON, _H_AT, "Nats-Msg-Id", "Nats-Expected-Stream")
_REASON_LIMIT = 500

_log = structlog.get_logger("hub.dlq")


class NoSuchLetter(LookupError):
    pass


@dataclass(frozen=True)
class DeadLetter:
    seq: int  # in the dead-letter stream
    stream: str  # where the message was, and at which sequence
    stream_seq: int
    subject: str
    deliveries: int
    reason: str  # masked when buried
    buried_at: dt.datetime
    headers: dict[str, str]  # the message's own headers
    data: bytes

    def preview(self, width: int = 80) -> str:
        """The start of the message, personal numbers masked, for a person deciding what to do."""
        text = mask_text(self.data.decode(errors="replace"))
        return text if len(text) <= width else text[: width - 1] + "…"


class DeadLetters:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def setup(self, replicas: int | None = None) -> None:
        await ensure_stream(self.js, DLQ_CONFIG, replicas)

    async def bury(self, msg: Msg, reason: str) -> None:
        """Keep ``msg`` as a dead letter, then tell JetStream never to deliver it again.

        The letter is stored (and acknowledged by the stream) before the original is terminated, so a
        crash in between redelivers the original, and the letter's id makes the second burial a no-op.
        """
        meta = msg.metadata
        origin = f"{meta.stream}:{meta.sequence.stream}"
        headers = {key: value for key, value in (msg.headers or {}).items() if key not in _OURS}
        headers |= {
            _H_STREAM: meta.stream,
            _H_SEQ: str(meta.sequence.stream),
            _H_SUBJECT: msg.subject,
            _H_DELIVERIES: str(meta.num_delivered),
            _H_REASON: mask_text(reason)[:_REASON_LIMIT],
            _H_AT: utcnow().isoformat(),
            "Nats-Msg-Id": origin,
        }
        await self.js.publish(f"{_SUBJECT}.{meta.stream}", msg.data, headers=headers)
        await msg.term()
        _log.warning("message dead-lettered", origin=origin, subject=msg.subject, reason=headers[_H_REASON])

    async def get(self, seq: int) -> DeadLetter:
        try:
            raw = await self.js.get_msg(DLQ_STREAM, seq=seq)
        except NotFoundError:
            message = f"no dead letter {seq}: it was replayed, or never existed (see `mpp-hub dlq list`)"
            raise NoSuchLetter(message) from None
        headers = dict(raw.headers or {})
        return DeadLetter(
            seq=seq,
            stream=headers.get(_H_STREAM, "?"),
            stream_seq=int(headers.get(_H_SEQ, "0")),
            subject=headers.get(_H_SUBJECT, ""),
            deliveries=int(headers.get(_H_DELIVERIES, "0")),
            reason=headers.get(_H_REASON, ""),
            buried_at=dt.datetime.fromisoformat(headers[_H_AT]) if _H_AT in headers else utcnow(),
            headers={key: value for key, value in headers.items() if key not in _OURS},
            data=raw.data or b"",
        )

    async def letters(self) -> list[DeadLetter]:
        """Every dead letter not yet replayed, oldest first."""
        state = (await self.js.stream_info(DLQ_STREAM)).state
        found = []
        for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
            try:
                found.append(await self.get(seq))
            except NoSuchLetter:
                continue  # replayed (deleted) letters leave gaps
        return found

    async def replay(self, seq: int, *, audit: AuditLog, operator: str) -> DeadLetter:
        """Publish the letter to its subject again and remove it; the audit record comes first."""
        letter = await self.get(seq)
        await audit.append(
            AuditEntry(
                consumer=operator,
                operation="dlq.replay",
                outcome=f"replayed {letter.stream}#{letter.stream_seq} ({letter.subject}) from {DLQ_STREAM}#{seq}",
                correlation_id=letter.headers.get("Mpp-Correlation-Id", f"dlq-{seq}"),
            )
        )
        # The id drops a second replay of the same letter that races this one (two operators, one click).
        headers = letter.headers | {"Nats-Msg-Id": f"dlq-replay:{seq}", "Mpp-Replay-Of": f"{DLQ_STREAM}#{seq}"}
        await self.js.publish(letter.subject, letter.data, headers=headers)
        try:
            await self.js.delete_msg(DLQ_STREAM, seq)
        except APIError as exc:
            # A racing replay of the same letter removed it first.
            if not isinstance(exc, NotFoundError) and exc.err_code not in _ALREADY_DELETED:
                raise
        _log.info("dead letter replayed", seq=seq, subject=letter.subject, operator=operator)
        return letter

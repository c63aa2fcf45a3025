"""Jobs and their job logs: every CL command runs in a job that records its messages.

Why: on IBM i each PASE ``system`` call is its own job (ibmi.md §2.4 item 1) and each SBMJOB is a
batch job with status and job log (§7.1); the product reads job logs (JOBLOG_INFO, §10.1) to
classify failures, so the simulator keeps one per job, in the node database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ibmi_sim.messages import MESSAGES, MsgType, render

if TYPE_CHECKING:
    from ibmi_sim.node import Node


@dataclass(frozen=True)
class Message:
    """A message as sent to a job log."""

    msg_id: str | None
    msg_type: MsgType
    severity: int
    text: str

    def line(self, with_id: bool = True) -> str:
        """``MSGID: text`` as PASE ``system`` prints it (ibmi.md §2.3: colon and one space)."""
        return f"{self.msg_id}: {self.text}" if with_id and self.msg_id else self.text


class Escape(Exception):
    """An escape message ends the command; ``diagnostics`` are sent before it (ibmi.md §2.3)."""

    def __init__(
        self,
        msg_id: str,
        *data: object,
        diagnostics: list[tuple[str, tuple[object, ...]]] | None = None,
    ) -> None:
        self.msg_id = msg_id
        self.data = data
        self.diagnostics = diagnostics or []
        super().__init__(f"{msg_id}: {render(msg_id, *data)}")


def make_message(msg_id: str, *data: object, msg_type: MsgType | None = None) -> Message:
    """Build a message from the table in :mod:`ibmi_sim.messages`."""
    definition = MESSAGES[msg_id]
    return Message(
        msg_id, msg_type or definition.msg_type, definition.severity, render(msg_id, *data)
    )


@dataclass
class Job:
    """A running job: identity plus the messages sent so far (also written to ``job_log``)."""

    node: Node
    number: int
    user: str
    name: str
    messages: list[Message] = field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        """``nnnnnn/USER/NAME`` (ibmi.md §7.1)."""
        return f"{self.number:06d}/{self.user}/{self.name}"

    async def log(self, message: Message, second_level: str | None = None) -> None:
        """Append ``message`` to the job log (memory and database)."""
        self.messages.append(message)
        await self.node.pool.execute(
            "INSERT INTO job_log (job_number, ordinal_position, message_id, message_type,"
            " severity, message_text, second_level_text) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            self.number,
            len(self.messages),
            message.msg_id,
            message.msg_type.value,
            message.severity,
            message.text,
            second_level,
        )

    async def send(self, msg_id: str, *data: object, msg_type: MsgType | None = None) -> None:
        """Send a message from the table to this job's log."""
        await self.log(make_message(msg_id, *data, msg_type=msg_type))

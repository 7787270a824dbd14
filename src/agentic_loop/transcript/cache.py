"""The worker's copy of each conversation, so the LLM activity's input can be a delta.

Keyed by conversation id (the first run's id, which continue-as-new keeps). The transcript
only ever grows, so any cached copy at least `history_length` long holds the right prefix;
a shorter or missing one is a miss, and the activity then asks the workflow itself (the
`transcript` query).

Bounded in bytes, not in conversations: a worker holding a few long or bulky conversations
must not grow without bound, and one holding many short ones should keep all it has room for
(a count bound of 2,048, the old one, evicted active conversations of a worker serving more
than that at once while most of its bound was free). The least recently used conversation
goes first. DEFAULT_MAX_BYTES (256 MiB, AGENTIC_LOOP_CACHE_MB) holds about as many conversations
of 100 steps with 1 KB tool results (some 110 KB each) as the old bound of 2,048
conversations did, so a typical worker keeps its hit rate, while a conversation of
megabyte-sized results costs what it weighs. A message's weight is its text (content, tool
call names and arguments) plus a fixed MESSAGE_OVERHEAD for the objects around it: an
estimate, cheap enough to take for every message once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from agentic_loop.types import Message

ConversationKey = str

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
# What Python's objects for one message (the dataclass, its strings, its list) cost besides
# the text itself, measured roughly with sys.getsizeof on CPython 3.11.
MESSAGE_OVERHEAD = 400


def message_bytes(message: Message) -> int:
    """The estimated memory one cached message takes."""
    calls = sum(len(c.id) + len(c.name) + len(c.arguments) for c in message.tool_calls)
    return len(message.content) + calls + MESSAGE_OVERHEAD


@dataclass
class _Conversation:
    messages: list[Message]
    # How many of `messages` (from the start) `size` counts: the activity appends to the
    # list it was given, so only the new tail is weighed when the list is stored again.
    weighed: int = 0
    size: int = 0

    def reweigh(self) -> int:
        """Weigh the messages not yet counted; the change in size."""
        before = self.size
        if self.weighed > len(self.messages):  # cut back by a retried attempt
            self.weighed, self.size = 0, 0
        self.size += sum(message_bytes(m) for m in self.messages[self.weighed :])
        self.weighed = len(self.messages)
        return self.size - before


@dataclass
class _Produced:
    entries: OrderedDict[str, tuple[Message, int]] = field(default_factory=OrderedDict)
    size: int = 0


class TranscriptCache:
    def __init__(
        self,
        max_conversations: int | None = None,
        max_produced: int = 65_536,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._max = max_conversations
        # All the conversations together, and (a quarter of it) the produced messages.
        self.max_bytes = max_bytes
        self._entries: OrderedDict[ConversationKey, _Conversation] = OrderedDict()
        self._bytes = 0
        # Messages this worker's activities returned (LLM turns, tool results), by key: the
        # next LLM request refers to them rather than carrying them (see MessageRef).
        self._max_produced = max_produced
        self._produced = _Produced()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        """The estimated memory held: conversations and produced messages."""
        return self._bytes + self._produced.size

    def prefix(self, key: ConversationKey, length: int) -> list[Message] | None:
        """The first `length` messages of the conversation, or None when not held here."""
        entry = self._entries.get(key)
        if entry is None or len(entry.messages) < length:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        if len(entry.messages) > length:
            # A retried attempt: the previous one already appended this delta.
            del entry.messages[length:]
        return entry.messages

    def count_as_miss(self) -> None:
        """The last `prefix()` hit did not spare a transcript read after all (a message the
        request refers to is not held here): count it as the miss it was."""
        self.hits -= 1
        self.misses += 1

    def store(self, key: ConversationKey, messages: list[Message]) -> None:
        entry = self._entries.get(key)
        if entry is None or entry.messages is not messages:
            if entry is not None:
                self._bytes -= entry.size
            entry = _Conversation(messages)
            self._entries[key] = entry
        self._bytes += entry.reweigh()
        self._entries.move_to_end(key)
        # The produced messages count against the same bound: the whole cache stays within
        # max_bytes (they may take a quarter of it, see remember()).
        while self._entries and (
            (self._max is not None and len(self._entries) > self._max)
            or self.size_bytes > self.max_bytes
        ):
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= dropped.size

    def remember(self, key: str, message: Message) -> None:
        produced = self._produced
        old = produced.entries.pop(key, None)
        if old is not None:
            produced.size -= old[1]
        weight = message_bytes(message)
        produced.entries[key] = (message, weight)
        produced.size += weight
        while produced.entries and (
            len(produced.entries) > self._max_produced or produced.size > self.max_bytes // 4
        ):
            _, (_, dropped) = produced.entries.popitem(last=False)
            produced.size -= dropped

    def recall(self, key: str) -> Message | None:
        held = self._produced.entries.get(key)
        return held[0] if held is not None else None

    def __len__(self) -> int:
        return len(self._entries)

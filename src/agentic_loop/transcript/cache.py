"""The worker's copy of each conversation, so the LLM activity's input can be a delta.

Keyed by conversation id (the first run's id, which continue-as-new keeps). The transcript
only ever grows, so any cached copy at least `history_length` long holds the right prefix;
a shorter or missing one is a miss, and the activity then asks the workflow itself (the
`transcript` query).
"""

from __future__ import annotations

from collections import OrderedDict

from agentic_loop.types import Message

ConversationKey = str


class TranscriptCache:
    def __init__(self, max_conversations: int = 2048, max_produced: int = 65_536) -> None:
        self._max = max_conversations
        self._entries: OrderedDict[ConversationKey, list[Message]] = OrderedDict()
        # Messages this worker's activities returned (LLM turns, tool results), by key: the
        # next LLM request refers to them rather than carrying them (see MessageRef).
        self._max_produced = max_produced
        self._produced: OrderedDict[str, Message] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def prefix(self, key: ConversationKey, length: int) -> list[Message] | None:
        """The first `length` messages of the conversation, or None when not held here."""
        messages = self._entries.get(key)
        if messages is None or len(messages) < length:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        if len(messages) > length:
            # A retried attempt: the previous one already appended this delta.
            del messages[length:]
        return messages

    def store(self, key: ConversationKey, messages: list[Message]) -> None:
        self._entries[key] = messages
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def remember(self, key: str, message: Message) -> None:
        self._produced[key] = message
        self._produced.move_to_end(key)
        while len(self._produced) > self._max_produced:
            self._produced.popitem(last=False)

    def recall(self, key: str) -> Message | None:
        return self._produced.get(key)

    def __len__(self) -> int:
        return len(self._entries)

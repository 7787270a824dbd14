"""The conversation outside the workflow: the keys both sides compute alike, the worker's cache
of each conversation, and reading a conversation back across continue-as-new runs."""

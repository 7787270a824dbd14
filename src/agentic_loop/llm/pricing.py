"""What a turn cost, in dollars: a price table per model, applied on the worker.

The LLM activity prices the usage it got and returns the cost with the turn, so the workflow
adds up recorded numbers (a replay on a worker with other prices still adds up the same) and
`max_cost_usd` can end a run. Prices are US dollars per million tokens, as providers publish
them; the defaults below are list prices of the common models as of late 2026 and are meant
to be overridden: `AGENTIC_LOOP_PRICES=path/to/prices.json` ({"model": {"input": 0.15,
"output": 0.60}}, merged over the defaults). A model missing from the table costs 0 and is
said so once in the worker's log: a budget in dollars cannot guard a model it cannot price.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentic_loop.config import ConfigError
from agentic_loop.types import Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Price:
    # Dollars per million tokens.
    input: float
    output: float


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "o4-mini": Price(1.10, 4.40),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-opus-4-1": Price(15.00, 75.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    # The fakes cost nothing, and say so rather than "unknown".
    "rule-based": Price(0.0, 0.0),
    "script": Price(0.0, 0.0),
}


class PriceTable:
    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES if prices is None else prices)
        self._unpriced: set[str] = set()

    @classmethod
    def from_file(cls, path: str | Path | None) -> PriceTable:
        """The defaults, with a JSON file's prices over them (None: the defaults alone)."""
        table = cls()
        if path is None:
            return table
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            for model, price in data.items():
                table.prices[model] = Price(float(price["input"]), float(price["output"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError(
                f"AGENTIC_LOOP_PRICES={path}: cannot read it as prices ({e}); write "
                '{"MODEL": {"input": DOLLARS_PER_MILLION, "output": DOLLARS_PER_MILLION}}'
            ) from e
        return table

    def price_of(self, model: str) -> Price | None:
        """The model's price; a dated snapshot ("gpt-4o-mini-2024-07-18", "script:seed") is
        priced as its family when it has no entry of its own."""
        if model in self.prices:
            return self.prices[model]
        family = max(
            (m for m in self.prices if model.startswith((m + "-", m + ":"))), key=len, default=None
        )
        return self.prices[family] if family is not None else None

    def cost(self, model: str, usage: Usage) -> float:
        price = self.price_of(model)
        if price is None:
            if model not in self._unpriced:
                self._unpriced.add(model)
                log.warning(
                    "no price for model %r: its turns count as $0 (set AGENTIC_LOOP_PRICES)",
                    model,
                )
            return 0.0
        return (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6

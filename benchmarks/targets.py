"""The targets a benchmark prints, checked: each is recorded met or missed as it is printed,
and the benchmark exits 1 at the end if any was missed (0 otherwise), so a script or CI step
that runs it sees the miss, not only a reader of its output."""

from __future__ import annotations

import sys


class Targets:
    def __init__(self) -> None:
        self.missed: list[str] = []
        self.checked = 0

    def check(self, description: str, met: bool) -> str:
        """Record the target; returns the word to print beside it."""
        self.checked += 1
        if not met:
            self.missed.append(description)
        return "met" if met else "MISSED"

    def finish(self) -> None:
        if self.missed:
            print(f"targets missed ({len(self.missed)}): " + "; ".join(self.missed))
            sys.exit(1)
        print("every target met" if self.checked else "no target was measured in this run")

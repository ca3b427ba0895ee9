"""Progress for long work: rich bars on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")
console = Console(stderr=True)


def interactive() -> bool:
    return sys.stderr.isatty()


@contextmanager
def steps(total: int, label: str) -> Iterator:
    """Yield ``advance(description)``; draws a bar on a TTY, logs a line per step otherwise."""
    if interactive():
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task(label, total=total)

            def advance(desc: str) -> None:
                progress.update(task, advance=1, description=f"{label}: {desc}")

            yield advance
    else:
        start = time.monotonic()
        done = 0

        def advance(desc: str) -> None:
            nonlocal done
            done += 1
            print(
                f"[{time.monotonic() - start:6.1f}s] {label} {done}/{total}: {desc}",
                file=sys.stderr,
                flush=True,
            )

        yield advance


def track(items: Iterable[T], total: int, label: str) -> Iterator[T]:
    with steps(total, label) as advance:
        for item in items:
            yield item
            advance(str(item))

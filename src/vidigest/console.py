"""Terminal progress bars (rich) for the embedded CLI."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

PHASE_LABELS = {
    "decode": "decode audio",
    "transcribe": "transcribe",
    "summarize": "summarize",
}


class RichProgress:
    """One bar per phase; implements common.types.ProgressReporter."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description:<14}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            # bars only on a terminal: a log file or a pipe gets just the result and errors
            disable=not console.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {}
        self._totals: dict[str, float] = {}

    def __enter__(self) -> RichProgress:
        return self  # the display starts with the first phase: no empty line if none runs

    def __exit__(self, *exc: object) -> None:
        if self._tasks:
            self.progress.stop()

    def start(self, phase: str, total: float) -> None:
        if not self._tasks:
            self.progress.start()
        label = PHASE_LABELS.get(phase, phase)
        total = self._totals[phase] = max(total, 1e-9)
        if phase in self._tasks:
            self.progress.reset(self._tasks[phase], total=total, description=label)
        else:
            self._tasks[phase] = self.progress.add_task(label, total=total)

    def update(self, phase: str, completed: float) -> None:
        if phase in self._tasks:
            self.progress.update(self._tasks[phase], completed=completed)

    def finish(self, phase: str) -> None:
        if phase in self._tasks:
            self.progress.update(self._tasks[phase], completed=self._totals[phase])

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

STAGE_LABELS = {
    "decode": "decode audio",
    "transcribe": "transcribe",
    "summarize": "summarize",
}


class RichProgress:
    """One bar per stage; implements common.types.ProgressReporter."""

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
        return self  # the display starts with the first stage: no empty line if none runs

    def __exit__(self, *exc: object) -> None:
        if self._tasks:
            self.progress.stop()

    def start(self, stage: str, total: float) -> None:
        if not self._tasks:
            self.progress.start()
        label = STAGE_LABELS.get(stage, stage)
        total = self._totals[stage] = max(total, 1e-9)
        if stage in self._tasks:
            self.progress.reset(self._tasks[stage], total=total, description=label)
        else:
            self._tasks[stage] = self.progress.add_task(label, total=total)

    def update(self, stage: str, completed: float) -> None:
        if stage in self._tasks:
            self.progress.update(self._tasks[stage], completed=completed)

    def finish(self, stage: str) -> None:
        if stage in self._tasks:
            self.progress.update(self._tasks[stage], completed=self._totals[stage])

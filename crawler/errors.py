"""The exception tree. User mistakes are `UserError`s: the CLI prints them as one line, never a traceback.

    GovcrawlError
    ├── UserError            bad input named by place (file:line: field: problem)
    │   ├── ConfigError      settings file, env var or flag
    │   └── RegistryError    site registry rows (carries every problem, not just the first)
    └── StoreError           the database could not be reached or written
"""

from __future__ import annotations


class GovcrawlError(Exception):
    pass


class UserError(GovcrawlError):
    pass


class ConfigError(UserError):
    pass


class RegistryError(UserError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreError(GovcrawlError):
    pass

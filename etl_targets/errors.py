"""The project's small exception tree.

Every failure a user can cause or meet (bad input, missing files, storage
trouble, wrong configuration) is one of these, so the CLI can map it to an
exit code and a one-line message while the traceback goes to the log file.
Foreign errors (fsspec, pyarrow, botocore) are wrapped where they happen with
``raise X from exc`` so the cause survives for the log.
"""


class EtlError(Exception):
    """Base of every error etl_targets raises on purpose."""


class ConfigError(EtlError):
    """Configuration is missing, contradictory or malformed."""


class MissingBucket(ConfigError):
    """A root names an S3 bucket that does not exist: never read as an empty lake."""


class StorageError(EtlError):
    """A storage operation failed for a reason other than "not found".

    Raised instead of answering "absent", so that an expired credential or a
    permission problem never makes the graph rebuild and overwrite data.
    """


class SourceUnavailable(StorageError):
    """An HTTP source (the FX rates API) could not give what was asked: retries ran out,
    the request was refused, or a page it named is not there."""


class CircuitOpen(SourceUnavailable):
    """An HTTP source failed too many times in a row: it is not asked again in this run."""


class ContractError(EtlError):
    """A landing file breaks the data contract at file level (rule 4).

    Args:
        source: the file's name or URL, always part of the message.
        problem: what is wrong, in a few words.
    """

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class MissingInputError(EtlError):
    """An expected landing file is not there."""


class UsageError(EtlError):
    """The command line asks for something that cannot be done (a bad value)."""


class SchedulerUnavailable(EtlError):
    """The central scheduler (``luigid``) named for a build does not answer.

    Raised before anything is scheduled, so the run exits "not run" within
    seconds instead of hanging in luigi's RPC retries.
    """


class Stopped(KeyboardInterrupt):
    """The run was told to stop (SIGTERM: a deadline, an eviction, ``timeout``; or Ctrl-C).

    A KeyboardInterrupt, so that luigi passes it on instead of recording a
    task failure, and no ``except Exception`` swallows it on the way out.

    Args:
        signal_name: ``SIGTERM`` or ``SIGINT``.
    """

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name

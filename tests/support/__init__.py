"""What the tests share: real servers, lakes, landing files, runs of the CLI.

Imported as ``support.<module>``: ``tests/conftest.py`` puts ``tests/`` on
``sys.path``, since pytest's ``--import-mode=importlib`` does not. Nothing
here imports ``etl_targets``: paths and file names are written out from the
data contract, so the tests do not trust the code under test for them.

* ``paths``: the repository, ``luigi.cfg``, the sample landing, the venv's commands.
* ``servers``: free loopback ports and subprocess servers that are always stopped.
* ``s3``: the moto S3 server, its request log, the AWS environment, an inspection client.
* ``luigid``: a real central scheduler and its JSON API.
* ``builds``: ``luigi.build`` in-process, observed through luigi's task events.
* ``landing``: the ERP's file names and landing files made from the sample.
* ``lakes``: the contract's lake layout and snapshots of what a run left.
* ``env``: the ``ETL_*`` environment a command runs with.
* ``cli``: the commands as subprocesses, the way cron runs them.
"""

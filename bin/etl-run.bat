@echo off
rem etl-run.bat <pipeline> [etl-targets arguments...]
rem Entry point for Windows Task Scheduler, the counterpart of bin/etl-run.
rem It only prepares the environment and calls the CLI, which appends to
rem logs\failures.log and runs ETL_ALERT_CMD itself (through cmd.exe, so
rem the command reads %%ETL_PIPELINE%%, %%ETL_ENV%%, %%ETL_EXIT_CODE%%,
rem %%ETL_DATES%%, %%ETL_FAILURE_LINE%%).
rem
rem The lock: Windows has no flock. Set the task's "If the task is already
rem running" to "Do not start a new instance", so runs never overlap.
rem
rem   ETL_ENV_FILE   KEY=value lines to load (lines starting with # are
rem                  skipped; values are taken as written, without quotes)
setlocal
set "REPO=%~dp0.."
cd /d "%REPO%" || exit /b 3
if "%~1"=="" (
    echo usage: etl-run.bat ^<pipeline^> [etl-targets arguments...] 1>&2
    exit /b 2
)
if defined ETL_ENV_FILE if not exist "%ETL_ENV_FILE%" (
    echo etl-run: ETL_ENV_FILE %ETL_ENV_FILE% is not readable 1>&2
    exit /b 3
)
if defined ETL_ENV_FILE (
    for /f "usebackq eol=# tokens=1,* delims==" %%A in ("%ETL_ENV_FILE%") do set "%%A=%%B"
)
if exist "%REPO%\.venv\Scripts\activate.bat" call "%REPO%\.venv\Scripts\activate.bat"
if not defined LUIGI_CONFIG_PATH set "LUIGI_CONFIG_PATH=%REPO%\luigi.cfg"

python -m etl_targets %*
exit /b %ERRORLEVEL%

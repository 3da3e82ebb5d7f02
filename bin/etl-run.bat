@echo off
rem etl-run.bat <pipeline> [etl-targets arguments...]
rem Entry point for Windows Task Scheduler, the counterpart of bin/etl-run.
rem Set the task to "Do not start a new instance" so runs never overlap
rem (Windows has no flock).
rem
rem   ETL_ENV_FILE   KEY=value lines to load (lines starting with # are skipped)
rem   ETL_ALERT_CMD  command run on failure; ETL_PIPELINE, ETL_EXIT_CODE and
rem                  ETL_FAILURE_LINE are set for it
rem   ETL_LOG_DIR    where failures.log goes (default <repo>\logs)
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
if not defined ETL_LOG_DIR set "ETL_LOG_DIR=%REPO%\logs"
if not exist "%ETL_LOG_DIR%" mkdir "%ETL_LOG_DIR%"

set "ETL_PIPELINE=%~1"
set "ERRFILE=%TEMP%\etl-run-%RANDOM%%RANDOM%.err"
python -m etl_targets %* 2> "%ERRFILE%"
set "ETL_EXIT_CODE=%ERRORLEVEL%"
type "%ERRFILE%" 1>&2
if "%ETL_EXIT_CODE%"=="0" goto done

rem The last line of stderr is the one-line error.
set "LASTERR="
for /f "usebackq delims=" %%L in ("%ERRFILE%") do set "LASTERR=%%L"
set "ETL_FAILURE_LINE=%DATE% %TIME% pipeline=%ETL_PIPELINE% exit=%ETL_EXIT_CODE% %LASTERR%"
>> "%ETL_LOG_DIR%\failures.log" echo %ETL_FAILURE_LINE%
if defined ETL_ALERT_CMD cmd /c "%ETL_ALERT_CMD%" || echo etl-run: ETL_ALERT_CMD failed 1>&2

:done
del "%ERRFILE%" 2>nul
exit /b %ETL_EXIT_CODE%

@echo off
rem etl-run.bat <pipeline> [etl-targets arguments...]
rem Entry point for Windows Task Scheduler. Set the task to "Do not start a
rem new instance" so runs never overlap (Windows has no flock). On failure a
rem line is appended to logs\failures.log and ETL_ALERT_CMD, if set, is run.
setlocal
set "REPO=%~dp0.."
cd /d "%REPO%" || exit /b 3
if "%~1"=="" (
    echo usage: etl-run.bat ^<pipeline^> [etl-targets arguments...] 1>&2
    exit /b 2
)
if exist "%REPO%\.venv\Scripts\activate.bat" call "%REPO%\.venv\Scripts\activate.bat"
if not defined LUIGI_CONFIG_PATH set "LUIGI_CONFIG_PATH=%REPO%\luigi.cfg"
if not defined ETL_LOG_DIR set "ETL_LOG_DIR=%REPO%\logs"
if not exist "%ETL_LOG_DIR%" mkdir "%ETL_LOG_DIR%"
python -m etl_targets %*
set "STATUS=%ERRORLEVEL%"
if not "%STATUS%"=="0" (
    echo %DATE% %TIME% pipeline=%~1 exit=%STATUS% see logs\%~1\>> "%ETL_LOG_DIR%\failures.log"
    if defined ETL_ALERT_CMD cmd /c "%ETL_ALERT_CMD%"
)
exit /b %STATUS%

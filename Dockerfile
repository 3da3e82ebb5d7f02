# etl-targets in a container. The image's entry point is the CLI, so a
# Kubernetes Job, a CronJob or `docker run` passes arguments only:
#
#   docker build -t etl-targets .
#   docker run --rm -e ETL_LAKE_ROOT=s3://acme-lake/erp -e ETL_LANDING_ROOT=s3://acme-drop/erp \
#       etl-targets so --date yesterday
#
# No credential is ever baked in: S3 access comes from the run-time
# environment (the pod's service account through IRSA, an instance role,
# AWS_* variables or a profile mounted by whoever starts the container).
# See deploy/ and docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project from the copied source (pyproject.toml is the metadata;
# sample_data/ is what `etl-targets init` copies into a new project folder).
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY sample_data ./sample_data
COPY etl_targets ./etl_targets
RUN pip install . && rm -rf /src

# A non-root user (numeric, so Kubernetes' runAsNonRoot can check it) and a
# working folder holding luigi.cfg: luigi reads ./luigi.cfg, and
# LUIGI_CONFIG_PATH names it too. Relative log_dir / roots resolve here.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /srv/etl \
        --shell /usr/sbin/nologin etl \
    && mkdir -p /srv/etl/logs \
    && chown -R 10001:10001 /srv/etl
WORKDIR /srv/etl
COPY --chown=10001:10001 luigi.cfg ./luigi.cfg
ENV LUIGI_CONFIG_PATH=/srv/etl/luigi.cfg \
    ETL_LOG_DIR=/srv/etl/logs
USER 10001:10001

ENTRYPOINT ["etl-targets"]
CMD ["--help"]

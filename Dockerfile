# syntax=docker/dockerfile:1
# The ferry image: `docker build -t ferry .`, or docker-compose up --build.
# Entrypoint `ferry`; the default command `up` runs every service in one process.

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY . .
# The registry, git checkouts and target directory live in build caches, so a
# rebuild after a source change recompiles only the workspace.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --locked --release -p ferry \
    && install -D -m 0755 target/release/ferry /out/ferry

FROM debian:bookworm-slim
# rsync, the PostgreSQL and MariaDB clients: the data mover copies files,
# mails and databases with the standard tools. curl: the healthcheck.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates rsync postgresql-client mariadb-client curl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 ferry \
    && useradd --system --uid 10001 --gid ferry --home-dir /var/lib/ferry --create-home \
        --shell /usr/sbin/nologin ferry
COPY --from=builder /out/ferry /usr/local/bin/ferry
USER ferry
WORKDIR /var/lib/ferry
ENV FERRY_HTTP_ADDR=0.0.0.0:8080 \
    FERRY_LOG=info
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=6 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://localhost:8080/ready"]
ENTRYPOINT ["ferry"]
CMD ["up"]

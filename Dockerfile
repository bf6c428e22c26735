# syntax=docker/dockerfile:1
# cachebust: the webhook server's image (deploy/compose.yaml), also `docker run` of any command.
#
# build: dependencies are compiled in a layer of their own, keyed only by Cargo.toml and
# Cargo.lock, so a source edit recompiles cachebust alone (the manifest-first pattern for cargo).
FROM rust:1.95-slim-bookworm AS build
# make: jemalloc, the binary's allocator, is built from C with make (the image has gcc only)
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install -y --no-install-recommends make
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# stand-ins for every target the manifest names, so that cargo compiles the dependencies only
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    mkdir -p src tests/integration tests/bench \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/integration/main.rs \
    && for b in analyze server; do echo 'fn main() {}' > tests/bench/$b.rs; done \
    && cargo build --release --locked --bin cachebust \
    && rm -rf src tests
COPY src ./src
# the sources are older than the stand-ins' build: touch them so cargo sees the change
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    mkdir -p tests/integration tests/bench \
    && touch tests/integration/main.rs \
    && for b in analyze server; do echo 'fn main() {}' > tests/bench/$b.rs; done \
    && touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin cachebust \
    && install -D target/release/cachebust /out/cachebust

# the runtime without the binary: git for reading the checkout's objects, CA roots for
# api.github.com. uid 1001 is not root and is the runner user of GitHub-hosted runners, which owns
# the workspace and the files behind GITHUB_OUTPUT and GITHUB_STEP_SUMMARY in a container action.
FROM debian:12.11-slim AS runtime-base
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*' \
    && groupadd --gid 1001 cachebust \
    && useradd --uid 1001 --gid 1001 --home-dir /home/cachebust --create-home cachebust
WORKDIR /home/cachebust
USER 1001:1001
# `cachebust serve` (deploy/compose.yaml) listens here when CACHEBUST_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cachebust"]
CMD ["--help"]

# the released image (release.yml: --target release, linux/amd64 and linux/arm64): the static
# binary the release built and attested for this platform, from dist/<arch>/ (nothing compiles)
FROM runtime-base AS release
ARG TARGETARCH
COPY --chmod=0755 dist/${TARGETARCH}/cachebust /usr/local/bin/cachebust

# the default: built from this checkout
FROM runtime-base AS runtime
COPY --from=build /out/cachebust /usr/local/bin/cachebust

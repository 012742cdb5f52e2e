# roku-bridge container image.
#
#   docker build -t roku-bridge .
#   docker run --rm --read-only -v roku-bridge-data:/app/data -p 8080:8080 -p 9090:9090 \
#     -e ROKU_BRIDGE__SERVER__LISTEN=0.0.0.0:8080 -e ROKU_BRIDGE__ADMIN__LISTEN=0.0.0.0:9090 \
#     roku-bridge
#
# The image runs with a read-only root filesystem. The only place the bridge writes is the
# SQLite store (default store.url "sqlite://data/bridge.db", i.e. /app/data/bridge.db since the
# working directory is /app): /app/data must be a mounted volume (a named volume, as above, or
# a Kubernetes PersistentVolumeClaim). With PostgreSQL (ROKU_BRIDGE__STORE__URL=postgres://...)
# nothing is written and no volume is needed. config/bridge.toml listens on 127.0.0.1, which is
# unreachable from outside a container: override the two listen addresses as above, or use
# the Kubernetes config in k8s/base/bridge.toml. Secrets come from the environment only
# (ROKU_BRIDGE__PROVIDER__PUBLISHER_TOKEN, ROKU_BRIDGE__SESSION__SIGNING_KEY,
# ROKU_BRIDGE__ROKU__API_KEY, ...), never from files baked into the image.
#
# The runtime image is distroless: no shell, so no HEALTHCHECK command and no preStop hook.
# Health is served on the admin listener (/healthz, /readyz); shutdown is SIGTERM, which the
# bridge handles (readiness off, drain_delay, then shutdown_grace for requests in flight).

############################ builder ############################
FROM rust:1-bookworm AS builder
WORKDIR /src

# 1. Dependencies only: build the lock file's crates against stub sources, so that this layer
#    stays cached until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# 2. The bridge itself. Touch the sources so cargo never mistakes the stubs' build for theirs.
#    migrations/ is embedded by sqlx::migrate!, config/ by include_str! (the example catalog).
COPY src ./src
COPY migrations ./migrations
COPY config ./config
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin roku-bridge \
 && install -D -m 0755 target/release/roku-bridge /out/roku-bridge \
 && mkdir -p /out/data

############################ runtime ############################
# glibc + libgcc + CA certificates, no shell; user "nonroot" is uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app

# Binary and config owned by root and not writable by the process.
COPY --from=builder /out/roku-bridge /app/roku-bridge
COPY config/ /app/config/
# An empty /app/data owned by the runtime user: a fresh named volume mounted here inherits this
# ownership. It is a mount point, not storage: with a read-only root filesystem it must be a
# volume (docker run -v NAME:/app/data, or a PVC on Kubernetes).
COPY --from=builder --chown=65532:65532 /out/data /app/data
VOLUME ["/app/data"]

USER 65532:65532
# 8080: device- and Roku-facing API ([server] listen). 9090: /metrics /healthz /readyz ([admin]
# listen) — keep it off the public network.
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/roku-bridge"]
CMD ["serve", "--config", "/app/config/bridge.toml"]

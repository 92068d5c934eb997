# syntax=docker/dockerfile:1
# bff-gateway container image (README.md, "Docker"):
#
#   docker build -t bff-gateway:0.1.0 .
#   docker run --rm -p 8080:8080 -p 9090:9090 -e BFF_ISSUER=… -e BFF_CLIENT_SECRET=… \
#     -e BFF_SESSION_KEY=… -e API_UPSTREAM=… -e SPA_UPSTREAM=… bff-gateway:0.1.0
#
# Two stages: compile with the locked dependencies, then ship the binary alone on distroless
# (glibc, libgcc and CA certificates; no shell, no package manager) as a non-root user.
# deploy/check (run by test.sh) lints this file with hadolint.

# --- build ------------------------------------------------------------------------------------
# bookworm here because the runtime below is distroless Debian 12: the binary links against the
# glibc it runs with. Bump the two together.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole workspace: the gateway, the demo authorization server (a workspace member, in
# Cargo.lock), and every target the manifest declares (examples, the integration tests, the
# criterion bench): cargo refuses a manifest whose target files are missing. deploy/check builds
# from exactly these files, so a path left out here fails CI, not `docker build`.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests/it ./tests/it
COPY examples ./examples
COPY benches ./benches
COPY demo ./demo
# The same command as test.sh's release build, so CI's end-to-end tests run the binary this
# image ships (same flags, same feature resolution). Change both together; deploy/check fails
# when they differ.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --locked --release --bin bff-gateway

# --- runtime ----------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/bff-gateway /usr/local/bin/bff-gateway
# The seed config; every value it needs comes from the environment (README.md, "Docker").
# Mount your own file over it, or a directory at /etc/bff-gateway (deploy/kubernetes does).
COPY gateway.yaml /etc/bff-gateway/gateway.yaml
# Inside a container the gateway must listen beyond loopback to be reachable through a published
# port (the seed config defaults to 127.0.0.1 for local development).
ENV BFF_LISTEN=0.0.0.0:8080 \
    BFF_ADMIN_LISTEN=0.0.0.0:9090
# distroless's `nonroot`, numeric so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# 8080: the gateway (browsers or the ingress); 9090: admin (/healthz, /readyz; keep it private).
EXPOSE 8080 9090
# Arguments after the image name replace CMD: `check` validates the config, `keygen` prints a key.
ENTRYPOINT ["/usr/local/bin/bff-gateway", "--config", "/etc/bff-gateway/gateway.yaml"]
CMD ["run"]

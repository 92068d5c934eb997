# syntax=docker/dockerfile:1
# Multi-stage build: compile with the locked dependencies, ship the binary on distroless.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
COPY examples ./examples
COPY demo ./demo
RUN cargo build --locked --release --bin bff-gateway

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/bff-gateway /usr/local/bin/bff-gateway
COPY gateway.yaml /etc/bff-gateway/gateway.yaml
USER nonroot:nonroot
# 8080: the gateway; 9090: admin (/healthz, /readyz). Set BFF_LISTEN / BFF_ADMIN_LISTEN to
# 0.0.0.0:8080 / 0.0.0.0:9090 (or edit the config) to listen beyond loopback.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/bff-gateway", "run", "--config", "/etc/bff-gateway/gateway.yaml"]

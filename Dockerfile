# syntax=docker/dockerfile:1
# The one `mercato` binary (router, pod, control plane, test gateway,
# mailbox and the operator CLI) on a slim Debian, as the Helm chart in
# helm/mercato runs it:
#
#   docker build -t registry.example.com/mercato:0.1.0 .
#
# FEATURES: `s3` (the default) lets pods keep product images in an S3
# bucket (`[media] store = "s3"`) and brings a TLS stack for it; build with
# --build-arg FEATURES= for a binary without.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
ARG FEATURES=s3
WORKDIR /src
# librdkafka is built from source by rdkafka-sys (configure and make, C and
# C++): the rust image has the toolchain. Migrations and page templates are
# compiled into the binary.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin mercato --features "${FEATURES}" \
 && install -D -m 0755 target/release/mercato /out/mercato

FROM debian:${DEBIAN_RELEASE}-slim
# CA certificates for HTTPS to S3 and collectors; nothing else is needed at
# run time (Postgres, Redis and Kafka are reached over the network).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mercato \
 && useradd --system --uid 10001 --gid mercato --home-dir /var/lib/mercato --shell /usr/sbin/nologin mercato \
 && install -d -o mercato -g mercato /var/lib/mercato /var/lib/mercato/media
COPY --from=build /out/mercato /usr/local/bin/mercato
USER 10001:10001
WORKDIR /var/lib/mercato
# Every process listens on 8080 in the chart (MERCATO_<PROCESS>_LISTEN).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mercato"]
CMD ["--help"]

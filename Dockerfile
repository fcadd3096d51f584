# Multi-stage build of the scimbridge binary (release profile: no debug info, no symbols, ~35 MB).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p scimbridge

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/scimbridge scimbridge \
    && mkdir -p /var/lib/scimbridge && chown scimbridge /var/lib/scimbridge && chmod 700 /var/lib/scimbridge
COPY --from=build /src/target/release/scimbridge /usr/local/bin/scimbridge
USER scimbridge
WORKDIR /var/lib/scimbridge
ENV SCIMBRIDGE_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["scimbridge"]
CMD ["serve"]

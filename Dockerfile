# Builds the `steward` binary and runs it on a slim Debian base.
#   docker build -t steward .
#   docker run -e STEWARD_DATABASE_URL=postgres://… -p 8080:8080 steward

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin steward \
 && install -D target/release/steward /out/steward

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/steward --create-home steward
COPY --from=build /out/steward /usr/local/bin/steward
USER steward
WORKDIR /var/lib/steward
ENV STEWARD_DATA_DIR=/var/lib/steward \
    STEWARD_HTTP__LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["steward"]
CMD ["serve"]

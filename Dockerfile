# fetchstream in a small static image: the binary, CA certificates for
# https, a /tmp, and nothing else; it runs as a non-root user.
#
#   docker build -t fetchstream .
#   docker run --rm fetchstream run --nats-url nats://nats.example:4222
#
# docker-compose.yml builds it for `docker compose up`. The compose test
# (cmd/fetchstream/composetest) builds the final stage below from binaries
# built on the host, so keep that stage to COPY --from=build, USER,
# ENTRYPOINT, CMD and HEALTHCHECK lines, one per line.

# GO_IMAGE: a Go 1.26 image; change it to use a mirror.
ARG GO_IMAGE=golang:1.26
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/fetchstream ./cmd/fetchstream \
 && mkdir -p /out/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# run without --nats-url keeps its embedded server's JetStream under /tmp.
COPY --from=build --chown=65532:65532 /out/tmp /tmp
COPY --from=build /out/fetchstream /fetchstream
USER 65532:65532
ENTRYPOINT ["/fetchstream"]
CMD ["run"]
# Connects to the NATS server the service uses (FETCHSTREAM_NATS_URL,
# NATS_URL or --config): see `fetchstream health -h`. Other subcommands
# (target) need their own check or --no-healthcheck.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/fetchstream", "health"]

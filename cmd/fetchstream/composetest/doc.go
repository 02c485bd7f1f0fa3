// Package composetest holds the end-to-end test of the repository's
// docker-compose.yml: NATS, fetchstream replicas and the demo target,
// brought up with docker compose (v2) or docker-compose (v1) on a local
// Docker engine.
//
// The test pulls nothing. It builds fetchstream and nats-server here
// (CGO_ENABLED=0), builds images FROM scratch from them (the fetchstream
// image from the final stage of the top-level Dockerfile, with its
// COPY --from=build sources taken from the host), and substitutes only
// variables of the compose file: image names, host ports and the subnet.
// It skips where no Docker engine answers or no compose command exists.
package composetest

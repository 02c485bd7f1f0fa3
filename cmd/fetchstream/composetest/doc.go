// Package composetest holds the end-to-end test of the repository's
// docker-compose.yml: NATS, fetchstream replicas and the demo target,
// brought up with docker compose (v2) or docker-compose (v1) on a local
// Docker engine (TestCompose); and, in TestComposeCluster, the same over
// docker-compose.cluster.yml, a three-node NATS cluster with R3 streams
// started at once with two replicas, none of which may restart on the way
// up, one node of which is killed mid-load.
//
// The test pulls nothing. It builds fetchstream and nats-server here
// (CGO_ENABLED=0) and images FROM scratch from them, through the recipe
// in cmd/fetchstream/internal/images that .ci/compose-local also uses
// (the fetchstream image from the final stage of the top-level
// Dockerfile, with its COPY --from=build sources taken from the host),
// and substitutes only variables of the compose file: image names, host
// ports and the subnet. It skips where no Docker engine answers or no
// compose command exists.
package composetest

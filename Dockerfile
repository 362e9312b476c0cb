# dsop-bank container image: a static binary on a minimal, shell-less base, run as a non-root user.
#   docker build --build-arg VERSION=$(git describe --always) --build-arg REVISION=$(git rev-parse HEAD) -t dsop-bank .
# The build stage is what `make build` does (CGO_ENABLED=0, -trimpath, version stamped).
#
# Both bases are pinned by digest, so that a rebuild of the same commit takes the same bases and
# a changed base is a reviewed change (Dependabot proposes one: .github/dependabot.yml). The
# digests are those the public registries served for these tags when they were pinned; to move
# to newer ones: `crane digest golang:1.26` and `crane digest gcr.io/distroless/static-debian12:nonroot`
# (or `docker buildx imagetools inspect`). A bank that mirrors images overrides both:
#   docker build --build-arg GO_IMAGE=registry.bank.no/golang@sha256:… --build-arg BASE_IMAGE=… .
ARG GO_IMAGE=golang:1.26@sha256:595c7847cff97c9a9e76f015083c481d26078f961c9c8dca3923132f51fe12f1
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=unknown
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/dsop-bank/dsop-bank/internal/telemetry.stampedVersion=${VERSION} -X github.com/dsop-bank/dsop-bank/internal/telemetry.stampedRevision=${REVISION}" \
      -o /out/dsop-bank ./cmd/dsop-bank \
 && mkdir -p /out/state

FROM ${BASE_IMAGE}
ARG VERSION=unknown
ARG REVISION=unknown
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="dsop-bank" \
      org.opencontainers.image.description="A Norwegian bank's server for the DSOP Control API v2 (Konkursbehandling, Oppgjør etter dødsfall)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/dsop-bank/dsop-bank" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
COPY --from=build /out/dsop-bank /dsop-bank
# The state directory (secret in test mode, development keys, file stores without a database):
# owned by the image's non-root user, so that a named volume mounted here is writable.
COPY --from=build --chown=65532:65532 /out/state /var/lib/dsop-bank
USER 65532:65532
# Listen on every interface inside the container (the defaults are loopback for a developer's
# machine); the gateway or the Service reaches the API on 8080, the cluster the admin port on 9090.
ENV DSOP_ADDR=0.0.0.0:8080 \
    DSOP_ADMIN_ADDR=0.0.0.0:9090 \
    DSOP_STATE_DIR=/var/lib/dsop-bank
EXPOSE 8080 9090
# The image has no shell or curl: the binary asks its own /readyz.
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/dsop-bank", "healthcheck"]
ENTRYPOINT ["/dsop-bank"]
CMD ["serve"]

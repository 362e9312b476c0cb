# dsop-bank container image: a static binary on a minimal, shell-less base, run as a non-root user.
#   docker build --build-arg VERSION=$(git describe --always) --build-arg REVISION=$(git rev-parse HEAD) -t dsop-bank .
# The build stage is what `make build` does (CGO_ENABLED=0, -trimpath, version stamped).
FROM golang:1.26 AS build
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

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="dsop-bank" \
      org.opencontainers.image.description="A Norwegian bank's server for the DSOP Control API v2 (Konkursbehandling, Oppgjør etter dødsfall)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
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

# intake container images: two targets from one build stage.
#
#   api     intake serve  (EXPOSE 8000, HEALTHCHECK via `intake healthcheck`)
#   worker  intake work   (EXPOSE 9100, HEALTHCHECK on its own /health;
#                          `work --once [JOB_ID]` for KEDA)
#
# Build: scripts/build-images.sh (podman or Docker with BuildKit), or
#   docker build --target api    -t intake-api .
#   docker build --target worker -t intake-worker .
#
# There is deliberately no "# syntax=" line: it would make BuildKit pull a
# frontend image, which fails at an air-gapped site. The RUN --mount cache
# mounts below are supported by the frontend built into Docker >= 23 and by
# buildah/podman. No ARG precedes the first FROM: buildah 1.28 drops --target
# when one does. Base images are pinned by tag here; the release pipeline
# pins them by digest (name:tag@sha256:...), see docs/DOCKER_SECURITY.md.

# ---- build: compile a static, stripped, version-stamped binary -------------
FROM docker.io/library/golang:1.26.8-bookworm AS build

# Module proxy and flags are build arguments so that a site can point at its
# own proxy (GOPROXY=https://goproxy.internal) or build from vendored modules
# with no network at all (GOFLAGS=-mod=vendor, see scripts/build-images.sh
# --offline). GOTOOLCHAIN=local: never download another Go toolchain.
ARG GOPROXY
ARG GOFLAGS
ENV CGO_ENABLED=0 GOTOOLCHAIN=local

WORKDIR /src

# Dependencies in their own layer: this step reruns only when go.mod or go.sum
# change. The module and build caches are BuildKit/buildah cache mounts, so
# they persist between builds without ending up in any image layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,id=intake-gomod,target=/go/pkg/mod \
    case " ${GOFLAGS:-} " in \
      *" -mod=vendor "*) echo "vendored modules: nothing to download" ;; \
      *) go mod download ;; \
    esac

COPY . .

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,id=intake-gomod,target=/go/pkg/mod \
    --mount=type=cache,id=intake-gobuild,target=/root/.cache/go-build \
    GOOS="$TARGETOS" GOARCH="${TARGETARCH:-$(go env GOARCH)}" \
    go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION} -X main.date=${CREATED}" \
      -o /out/intake ./cmd/intake \
 && mkdir -p /out/data

# ---- runtime: distroless static, non-root, no shell ------------------------
FROM gcr.io/distroless/static-debian12:nonroot AS runtime

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/intake-dev/intake
LABEL org.opencontainers.image.title="intake" \
      org.opencontainers.image.description="Compliance document collection service" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"

# The binary is owned by root and not writable by the process; the data
# directory (SQLite and file blobs, the embedded defaults) belongs to the
# nonroot user. Mount a volume or tmpfs there when the root filesystem is
# read-only.
COPY --from=build --chown=0:0 --chmod=0555 /out/intake /intake
COPY --from=build --chown=65532:65532 /out/data /data
ENV INTAKE_DATA_DIR=/data
WORKDIR /data
USER 65532:65532
ENTRYPOINT ["/intake"]

# ---- api: intake serve -----------------------------------------------------
FROM runtime AS api
ENV INTAKE_HTTP_ADDR=0.0.0.0:8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/intake", "healthcheck"]
CMD ["serve"]

# ---- worker: intake work (`work --once [JOB_ID]` for KEDA jobs) -----------
FROM runtime AS worker
ENV INTAKE_METRICS_ADDR=:9100
EXPOSE 9100
# The worker's own /health on its metrics listener (INTAKE_METRICS_ADDR); a
# site that moves the port overrides the healthcheck with it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/intake", "healthcheck", "http://127.0.0.1:9100/health"]
CMD ["work"]

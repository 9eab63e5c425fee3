# syntax=docker/dockerfile:1
# Vigil's one binary on distroless: docker build --build-arg VERSION=v0.1.0 -t ghcr.io/vigil-dev/vigil:v0.1.0 .
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ...

# The builder runs on the build host and cross-compiles (CGO is off).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused while only sources change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X github.com/vigil-dev/vigil/internal/build.Version=${VERSION}" \
    -o /out/vigil ./cmd/vigil

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vigil /vigil
# Default configurations; the Helm chart mounts its own over /etc/vigil.
COPY configs/ /etc/vigil/
USER 65532:65532
# OTLP gRPC/HTTP, admin ports (collector, pipeline, detector, alerting), app metrics.
EXPOSE 4317 4318 8881 8882 8883 8884 8889
ENTRYPOINT ["/vigil"]

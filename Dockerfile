# syntax=docker/dockerfile:1

# Build stage: the same Go as go.mod's go directive, so the go command needs
# no toolchain download. CGO is off: the SQLite driver is pure Go.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, in their own layer: it is rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /rp ./cmd/rp
# The session directory, created here because the final image has no shell.
RUN mkdir -p /out/data

# Final stage: static binary, CA certificates, tzdata, a non-root user
# (nonroot, uid/gid 65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /rp /rp
COPY --from=build --chown=65532:65532 /out/data /data
ENV RP_ADDR=:8080 \
    RP_SESSION_STORE=sqlite:/data/rp-sessions.db
# Sessions survive container restarts in this volume; a new named volume
# takes the directory's owner (65532) from the image.
VOLUME ["/data"]
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/rp"]

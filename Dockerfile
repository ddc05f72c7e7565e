# Ember in a container: built from source on Debian 12, run as a non-root
# user with its data in a volume.
#
#   docker build -t ember .
#   docker run -p 127.0.0.1:4040:4040 -v ember-data:/var/lib/ember ember
#
# Arguments after the image name replace the default ones, e.g.
#   docker run ... ember --listen 0.0.0.0:4040 --data /var/lib/ember --retention 30d

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libmicrohttpd-dev libsqlite3-dev libzstd-dev libjansson-dev zlib1g-dev \
      libre2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" --target ember \
 && strip /build/ember

FROM debian:12-slim
# Only the runtime libraries, and curl for the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libsqlite3-0 libzstd1 libjansson4 zlib1g libre2-9 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --home-dir /var/lib/ember \
      --shell /usr/sbin/nologin ember \
 && mkdir -p /var/lib/ember \
 && chown ember:ember /var/lib/ember
COPY --from=build /build/ember /usr/local/bin/ember
USER ember
VOLUME /var/lib/ember
EXPOSE 4040
# Readiness, not liveness: a server whose disk is full or whose writes fail
# is marked unhealthy (GET /healthz only says the process answers).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:4040/readyz || exit 1
# Inside the container Ember listens on every interface; publish the port
# on the host as narrowly as you need (127.0.0.1:4040:4040 for this host only).
ENTRYPOINT ["ember", "serve"]
CMD ["--listen", "0.0.0.0:4040", "--data", "/var/lib/ember"]

# Ember in a container: built from source on Debian 12, run as a non-root
# user with its data in a volume.
#
#   docker build -t ember .
#   docker run -d -p 127.0.0.1:4040:4040 -v ember-data:/var/lib/ember ember
#
# BASE_IMAGE is the Debian 12 image both stages start from. Where no
# registry is reachable, make one from a Debian mirror with debootstrap and
# pass its name (README.md, "Running with Docker"):
#
#   docker build --network host --build-arg BASE_IMAGE=local/debian:bookworm -t ember .
#
# The server is configured by EMBER_<FLAG> variables (docker run -e
# EMBER_RETENTION=30d ...) or by arguments after the image name, which
# replace `serve`: docker run ... ember serve --retention 30d

ARG BASE_IMAGE=debian:12-slim

FROM ${BASE_IMAGE} AS build
# Everything CMake looks for (CMakeLists.txt); the tests are not built.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libmicrohttpd-dev libsqlite3-dev libzstd-dev libjansson-dev zlib1g-dev \
      libprotobuf-c-dev protobuf-c-compiler libre2-dev libpq-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBER_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" --target ember \
 && strip /build/ember

FROM ${BASE_IMAGE}
# The libraries `ldd ember` lists (libstdc++ and GnuTLS come with RE2 and
# libmicrohttpd; libpq for a postgres:// store), and curl for the health
# check; nothing else. The test
# in tests/deploy/ checks this list against ldd inside the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libsqlite3-0 libzstd1 libjansson4 zlib1g \
      libprotobuf-c1 libre2-9 libpq5 curl \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --home-dir /var/lib/ember \
      --shell /usr/sbin/nologin ember \
 && mkdir -p /var/lib/ember \
 && chown ember:ember /var/lib/ember
COPY --from=build /build/ember /usr/local/bin/ember
USER ember
# Inside the container Ember listens on every interface; publish the port
# on the host as narrowly as you need (127.0.0.1:4040:4040 for this host
# only). Every `ember serve` flag can also be set as EMBER_<FLAG>, e.g.
# EMBER_RETENTION=30d; a flag on the command line wins.
ENV EMBER_LISTEN=0.0.0.0:4040 \
    EMBER_DATA=/var/lib/ember
VOLUME /var/lib/ember
EXPOSE 4040
# Readiness, not liveness: a server whose disk is full or whose writes fail
# is marked unhealthy (GET /healthz only says the process answers). It asks
# the port of EMBER_LISTEN, over HTTPS when EMBER_TLS_CERT is set.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD port="${EMBER_LISTEN##*:}"; scheme=http; [ -z "$EMBER_TLS_CERT" ] || scheme=https; \
      curl -fsSk "$scheme://127.0.0.1:${port:-4040}/readyz" || exit 1
ENTRYPOINT ["ember"]
CMD ["serve"]

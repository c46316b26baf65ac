# BloodGrid: one image holding the four servers (gateway, donor_service, inventory_service,
# request_service), the schema migrations and the policy profiles.
#
#   docker build -t bloodgrid:0.1.0 .
#   docker run --rm bloodgrid:0.1.0 donor_service --help
#
# There is no default command: Kubernetes picks the server with `command:` (k8s/base), Docker with
# the first argument. Everything runs as the unprivileged user 10001 and only needs to read the
# image, so it works with a read-only root filesystem.
ARG DEBIAN_IMAGE=debian:12

# ---- build ------------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto \
      libabsl-dev libmysqlcppconn-dev libgtest-dev libgmock-dev libssl-dev libglpk-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBLOODGRID_BUILD_TESTS=OFF \
 && cmake --build build

# Everything the runtime image receives, laid out under /stage. A missing binary, migrations
# directory or policy profile fails the build here.
RUN set -eu; \
    install -d /stage/usr/local/bin /stage/usr/share/bloodgrid/policies /stage/etc/bloodgrid; \
    for s in gateway donor_service inventory_service request_service; do \
      install -m 0755 -s "build/$s/$s" "/stage/usr/local/bin/$s"; \
    done; \
    for s in donor_service inventory_service request_service; do \
      install -d "/stage/usr/share/bloodgrid/migrations/$s"; \
      install -m 0644 "$s"/migrations/*.sql "/stage/usr/share/bloodgrid/migrations/$s/"; \
    done; \
    install -m 0644 config/policies/*.textproto /stage/usr/share/bloodgrid/policies/; \
    ln -s /usr/share/bloodgrid/policies/cn-gb18467-2011.textproto /stage/etc/bloodgrid/policy.textproto

# ---- runtime ----------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 libmysqlcppconn7v5 libglpk40 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 bloodgrid \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin bloodgrid

# Binaries in /usr/local/bin; each schema's migration files in
# /usr/share/bloodgrid/migrations/<service>/ (the servers carry the same migrations and apply
# them at start-up); policy profiles in /usr/share/bloodgrid/policies/, with
# /etc/bloodgrid/policy.textproto pointing at cn-gb18467-2011.
COPY --from=build /stage/ /

# Fail the build, not the pod, when a shared library is missing.
RUN for b in /usr/local/bin/gateway /usr/local/bin/donor_service \
             /usr/local/bin/inventory_service /usr/local/bin/request_service; do \
      if ldd "$b" | grep -q 'not found'; then ldd "$b"; exit 1; fi; \
    done

LABEL org.opencontainers.image.title="BloodGrid" \
      org.opencontainers.image.description="BloodGrid gRPC servers: gateway, donor_service, inventory_service, request_service"

USER 10001:10001
WORKDIR /
# gateway, donor_service, inventory_service, request_service
EXPOSE 50050 50051 50052 50053

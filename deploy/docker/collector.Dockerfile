# syntax=docker/dockerfile:1
# The Vigil collector image: docker build -f deploy/docker/collector.Dockerfile -t vigil-collector .
#
# The base image is pinned by digest (see agent.Dockerfile for how to refresh it).
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# --- build: TypeScript and production dependencies (better-sqlite3 is native) ---
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The project's own build (TypeScript, the console's static files, the wire contract). Without
# clang it says the eBPF sensor is unavailable, which the collector does not need.
RUN node scripts/build.mjs \
 && test -f dist/proto/vigil/v1/link.proto \
 && rm -f dist/agent/sources/ebpf/vigil-sensor \
 && rm -rf dist/test && find dist -name "*.test.js*" -delete \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: non-root, read-only root file system friendly ---
FROM ${NODE_IMAGE}
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/rules ./rules
ENV NODE_ENV=production
# A numeric uid/gid of its own (not node's 1000), matching the Deployment's runAsUser.
RUN groupadd --system --gid 10001 vigil \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/vigil/collector --no-create-home vigil \
 && mkdir -p /var/lib/vigil/collector \
 && chown 10001:10001 /var/lib/vigil/collector
USER 10001:10001
EXPOSE 8080 7443
ENTRYPOINT ["node", "/app/dist/cli/vigil.js", "collector"]
CMD ["--config", "/etc/vigil/config/collector.yaml"]

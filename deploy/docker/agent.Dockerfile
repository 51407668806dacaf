# syntax=docker/dockerfile:1
# The Vigil agent image: docker build -f deploy/docker/agent.Dockerfile -t vigil-agent .
#
# The base image is pinned by digest (a multi-arch index of node:20-bookworm-slim). Refresh it
# deliberately: docker buildx imagetools inspect docker.io/library/node:20-bookworm-slim
# and pass --build-arg NODE_IMAGE=docker.io/library/node:20-bookworm-slim@sha256:<new digest>.
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# --- build: TypeScript, the eBPF sensor (clang, libbpf, bpftool), production dependencies ---
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libzstd-dev gcc libc6-dev \
      python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# scripts/build.mjs compiles into dist/ and builds the sensor from the build host's kernel BTF
# (CO-RE: the object then loads on any kernel with BTF). An image without the sensor is refused.
RUN node scripts/build.mjs \
 && test -x dist/agent/sources/ebpf/vigil-sensor \
 && rm -rf dist/test && find dist -name "*.test.js*" -delete \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime: node, nftables and conntrack (quarantine), nsenter (util-linux, in the base) ---
FROM ${NODE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables conntrack \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/rules ./rules
ENV NODE_ENV=production
# Root, because the agent reads every process's /proc and enters pods' network namespaces; the
# DaemonSet drops every capability but the few it documents (deploy/README.md).
USER 0:0
EXPOSE 9376
ENTRYPOINT ["node", "/app/dist/cli/vigil.js", "agent"]
CMD ["--config", "/etc/vigil/config/agent.yaml"]

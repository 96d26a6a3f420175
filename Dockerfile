# tcpotel in a container. Build on a Linux host with BTF (/sys/kernel/btf/vmlinux): the BPF
# object is compiled against it, and CO-RE makes it run on other kernels.
#   docker build -t tcpotel .
#   docker run --rm --pid=host --network=host --cap-add BPF --cap-add PERFMON \
#     --cap-add SYS_PTRACE -v /sys/kernel/tracing:/sys/kernel/tracing tcpotel
# (on Docker older than 23, or with a seccomp profile that blocks bpf(), add
#  --security-opt seccomp=unconfined)

FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
# The packages are already here: skip the setup step's apt checks.
RUN touch .setup.stamp node_modules/.package-lock.json \
 && make bpf addon ts \
 && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tcpotel
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/build/Release/tcpotel.node ./build/Release/tcpotel.node
COPY --from=build /src/bpf/tcpotel.h ./bpf/tcpotel.h
COPY --from=build /src/pipelines ./pipelines
COPY --from=build /src/docs ./docs
# A fixed mmap threshold: glibc's moving one lets arenas keep what large buffers (ring
# batches, encoded requests) once used; tcpotel's resident memory stays about half as big.
ENV MALLOC_MMAP_THRESHOLD_=131072
ENTRYPOINT ["node", "/opt/tcpotel/bin/tcpotel.js"]
CMD ["run", "--config", "/opt/tcpotel/pipelines/otlp.yaml"]

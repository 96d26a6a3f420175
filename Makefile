# tcpotel: `make run` and `make test` do all the set-up a fresh Debian machine needs.
SHELL := /bin/bash
.DEFAULT_GOAL := all

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
OUT := bpf/.output
CLANG ?= clang
BPFTOOL ?= bpftool
NODE_GYP := node $(shell npm prefix -g 2>/dev/null)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
NODEDIR := $(shell [ -d /usr/include/node ] && echo --nodedir=/usr)
BPF_SRC := $(wildcard bpf/*.bpf.c)
BPF_HDR := $(wildcard bpf/*.h)
TS_SRC := $(shell find src test bench -name '*.ts' -o -name '*.tsx' 2>/dev/null)
# Empty: pipelines/default.yaml, plus pipelines/otlp-overlay.yaml when OTEL_EXPORTER_OTLP_ENDPOINT is set.
CONFIG ?=

.PHONY: all setup build bpf addon ts peers run test bench install uninstall clean distclean

all: build

# Debian packages (when missing and root) and node_modules (when package-lock.json changed).
setup: .setup.stamp node_modules/.package-lock.json
.setup.stamp: scripts/setup.sh
	./scripts/setup.sh
	touch $@
node_modules/.package-lock.json: package-lock.json | .setup.stamp
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

build: setup bpf addon ts peers

bpf: $(OUT)/tcpotel.skel.h $(OUT)/probe.skel.h

$(OUT)/vmlinux.h: | .setup.stamp
	mkdir -p $(OUT)
	@test -r /sys/kernel/btf/vmlinux || { echo "tcpotel: this kernel exposes no BTF (/sys/kernel/btf/vmlinux): it needs CONFIG_DEBUG_INFO_BTF=y" >&2; exit 1; }
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(OUT)/%.bpf.o: bpf/%.bpf.c $(BPF_HDR) $(OUT)/vmlinux.h
	$(CLANG) -g -O2 -Wall -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -I$(OUT) -Ibpf -c $< -o $@
	llvm-strip -g $@

$(OUT)/tcpotel.skel.h: $(OUT)/tcpotel.bpf.o
	$(BPFTOOL) gen skeleton $< name tcpotel_bpf > $@.tmp && mv $@.tmp $@
$(OUT)/probe.skel.h: $(OUT)/probe.bpf.o
	$(BPFTOOL) gen skeleton $< name probe_bpf > $@.tmp && mv $@.tmp $@

addon: build/Release/tcpotel.node
build/Release/tcpotel.node: $(wildcard native/*.cc native/*.h) binding.gyp $(OUT)/tcpotel.skel.h $(OUT)/probe.skel.h bpf/tcpotel.h | node_modules/.package-lock.json
	$(NODE_GYP) configure $(NODEDIR)
	$(NODE_GYP) build $(NODEDIR) -j 2

ts: dist/.stamp
dist/.stamp: $(TS_SRC) tsconfig.json | node_modules/.package-lock.json
	npx tsc -p tsconfig.json
	touch $@

peers: $(OUT)/tcppeer
$(OUT)/tcppeer: test/peers/tcppeer.c | .setup.stamp
	mkdir -p $(OUT)
	$(CC) -O2 -Wall -o $@ $< -lpthread

# MALLOC_MMAP_THRESHOLD_: see README, "Bounded and survivable".
run: build
	MALLOC_MMAP_THRESHOLD_=$${MALLOC_MMAP_THRESHOLD_:-131072} node bin/tcpotel.js run $(if $(CONFIG),--config $(CONFIG))

test: build
	node scripts/run-tests.mjs

bench: build
	node scripts/run-bench.mjs

# A host install: PREFIX (/usr/local), DESTDIR (a staging root), SYSCONFDIR (/etc),
# UNITDIR ($(PREFIX)/lib/systemd/system); see scripts/install.sh.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
install: build
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' SYSCONFDIR='$(SYSCONFDIR)' UNITDIR='$(UNITDIR)' ./scripts/install.sh

# Leaves the config in $(SYSCONFDIR)/tcpotel.
uninstall:
	rm -rf '$(DESTDIR)$(PREFIX)/lib/tcpotel' '$(DESTDIR)$(PREFIX)/bin/tcpotel' '$(DESTDIR)$(UNITDIR)/tcpotel.service'

clean:
	rm -rf $(OUT) build dist
distclean: clean
	rm -rf node_modules .setup.stamp

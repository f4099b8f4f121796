# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shunt: make (build/shunt), make test, make check, make unit, make demo, make bench, make static, make clean
.DELETE_ON_ERROR:
.SUFFIXES:

OUT       ?= build
# The BPF programs' target architecture (bpf_tracing.h's register layout): the build host's
# by default, ARCH=arm64 or ARCH=x86 to choose.
ARCH      ?= $(shell uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')
CLANG     ?= clang
BPFTOOL   ?= bpftool
CC        ?= cc
V         ?= 0
ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS  := bpf/connect.bpf.c bpf/sockopt.bpf.c bpf/sockops.bpf.c bpf/fastpath.bpf.c bpf/inbound.bpf.c
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUT)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_HDRS  := $(wildcard bpf/*.h) include/shunt/abi.h
VMLINUX_H := $(OUT)/vmlinux.h
SKEL      := $(OUT)/shunt.skel.h

USER_SRCS := user/config.c user/values.c user/config_print.c user/ytree.c user/policy.c user/pins.c user/loader.c user/maps.c \
             user/cgroup.c user/workload.c user/apply.c user/daemon.c user/report.c user/dump.c user/log.c user/jsonw.c user/default_config.c \
             user/podinit.c user/podreg.c user/httpd.c user/explain.c user/doctor.c user/trace.c \
             user/cni.c user/cni_decide.c user/kube.c user/cni_install.c user/uninstall.c \
             user/upgrade.c
USER_OBJS := $(patsubst user/%.c,$(OUT)/user/%.o,$(USER_SRCS))
USER_HDRS := $(wildcard user/*.h) $(BPF_HDRS) VERSION

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS    ?= -O2 -g
# One version for the binary, the image tag, the DaemonSet and the man page (deploy.t checks
# that they agree).
VERSION   := $(shell cat VERSION)
CPPFLAGS  := -D_GNU_SOURCE -DSHUNT_VERSION='"$(VERSION)"'
INCLUDES  := -Iinclude -Iuser -Ibpf -I$(OUT)
LIBS      := -lbpf -lelf -lz -lyaml -lcurl -ljson-c -lpthread

# Pure logic (no libbpf, no kernel): what the unit tests link against.
PURE_SRCS := user/config.c user/values.c user/config_print.c user/ytree.c user/policy.c user/log.c user/jsonw.c user/default_config.c user/podinit.c \
             user/cni_decide.c
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

UNIT_TESTS := test_config test_policy test_abi test_sk_lookup test_podinit test_cni test_jsonw
TOOLS      := tcpecho tcpclient streamcheck unixsend bypass landing storm halfclose validate twoqueue compat drainproxy

PREFIX  ?= /usr/local
DESTDIR ?=

.PHONY: install all clean test unit check kernel-test tools demo bench bench-pods bench-cni bench-connpath bench-trace static vmtest fuzz modelcheck image
all: $(OUT)/shunt $(OUT)/shunt-cni tools

$(OUT)/bpf $(OUT)/user $(OUT)/tests $(OUT)/tools:
	$(Q)mkdir -p $@

# CO-RE: types come from the running kernel's BTF. Override VMLINUX_BTF on a build host
# without /sys/kernel/btf/vmlinux (e.g. a vmlinux file with .BTF). Generated once and kept on
# purpose: the programs load on other kernels all the same (CO-RE relocates every field they
# read), and a build must not change under `make install` because the machine rebooted into
# another kernel (the test guest does exactly that). `rm build/vmlinux.h` takes new types.
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
$(VMLINUX_H): | $(OUT)/bpf
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

# Header dependencies: each object lists the headers it included (-MMD, $(OUT)/*/*.d), so a
# header change rebuilds exactly what reads it; the first build has none and builds all.
DEPFLAGS  := -MMD -MP
# BPF_DEFINES=-DSHUNT_NO_TRACE (with its own OUT): the programs without their trace code, what
# bench-connpath compares tracing-off against.
BPF_DEFINES ?=

$(OUT)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H) | $(OUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) $(DEPFLAGS) \
		$(BPF_DEFINES) $(INCLUDES) -c $< -o $@

$(OUT)/shunt.bpf.o: $(BPF_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(SKEL): $(OUT)/shunt.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name shunt_bpf > $@

# The skeleton exists before any object compiles (order-only: the objects that include it
# list it in their .d); VERSION is on every command line.
$(OUT)/user/%.o: user/%.c VERSION | $(OUT)/user $(SKEL)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEPFLAGS) $(INCLUDES) -c $< -o $@

-include $(wildcard $(OUT)/bpf/*.d $(OUT)/user/*.d)

$(OUT)/shunt: $(USER_OBJS) $(OUT)/user/main.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lmicrohttpd

# The chained CNI plugin: installed onto the host and run there, so static (json-c and libc
# only), whatever the node's OS offers.
$(OUT)/shunt-cni: user/cni_plugin.c user/cni.h | $(OUT)/user
	$(call msg,LD,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(INCLUDES) -static -o $@ $< -ljson-c

# The same shunt claiming the next ABI: faults.t rehearses an in-place upgrade with it.
ABI_NEXT := $(shell sed -n 's/^\#define SHUNT_ABI_VERSION \([0-9]*\)$$/\1/p' include/shunt/abi.h)
$(OUT)/tests/shunt-abinext: $(USER_SRCS) user/main.c $(USER_HDRS) $(SKEL) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -DSHUNT_ABI_VERSION=$$(($(ABI_NEXT) + 1)) $(CFLAGS) $(WARN) $(INCLUDES) \
		-o $@ $(USER_SRCS) user/main.c $(LIBS) -lmicrohttpd

# The previous release: the last build of the ABI before this one, from git history
# (scripts/prev-release.sh), built in its own tree. faults.t replaces it with this shunt in
# place under load and rolls back to it. Without history (a tarball) there is none and
# faults.t says so.
$(OUT)/tests/shunt-prev: include/shunt/abi.h scripts/prev-release.sh | $(OUT)/tests
	$(Q)rm -rf $(OUT)/prev $@
	$(Q)if c=$$(scripts/prev-release.sh); then \
		echo "  BUILD    $@ ($$(git log -1 --format='%h %s' $$c | cut -c1-60))"; \
		mkdir -p $(OUT)/prev && git archive $$c | tar -x -C $(OUT)/prev && \
		$(MAKE) -s -C $(OUT)/prev OUT=build build/shunt > $(OUT)/prev.log 2>&1 && \
		cp $(OUT)/prev/build/shunt $@ && echo $$c > $@.commit || \
		{ tail -20 $(OUT)/prev.log; exit 1; }; \
	else echo "  SKIP     $@: no earlier ABI in git history"; fi

# Debian's libmicrohttpd cannot be linked statically (its TLS dependencies ship no static
# libraries): the static binary has no --listen.
$(OUT)/user/httpd-static.o: user/httpd.c $(USER_HDRS) | $(OUT)/user
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -DSHUNT_NO_HTTPD $(CFLAGS) $(WARN) $(INCLUDES) -c $< -o $@

static: $(filter-out $(OUT)/user/httpd.o,$(USER_OBJS)) $(OUT)/user/httpd-static.o $(OUT)/user/main.o
	$(call msg,LD,$(OUT)/shunt-static)
	$(Q)$(CC) $(CFLAGS) -static -o $(OUT)/shunt-static $^ $(LIBS)

# Unit tests: no root, ASan + UBSan, cmocka. test_sk_lookup runs BPF in the kernel (root).
$(OUT)/tests/test_sk_lookup: tests/kernel/test_sk_lookup.c $(PURE_SRCS) user/maps.c user/pins.c $(USER_HDRS) $(SKEL) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WARN) $(INCLUDES) -o $@ $< $(PURE_SRCS) user/maps.c \
		user/pins.c -lcmocka -lyaml -lbpf -lelf -lz -ljson-c

$(OUT)/tests/%: tests/unit/%.c $(PURE_SRCS) $(USER_HDRS) $(SKEL) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WARN) $(INCLUDES) -DSHUNT_SOURCE_DIR='"$(CURDIR)"' \
		-o $@ $< $(PURE_SRCS) -lcmocka -lyaml -lbpf -lelf -lz -ljson-c

$(OUT)/tools/%: tests/tools/%.c tests/tools/sockaddr.h | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $<

$(OUT)/tools/bypass: tests/tools/bypass.c tests/tools/sockaddr.h | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< -luring

$(OUT)/tools/halfclose: tests/tools/halfclose.c | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< -lbpf -lpthread

$(OUT)/tools/twoqueue: tests/tools/twoqueue.c | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< -lbpf

tools: $(addprefix $(OUT)/tools/,$(TOOLS)) $(OUT)/tools/foreign.bpf.o $(OUT)/tools/cilium_sock.bpf.o \
       $(OUT)/tools/halfclose.bpf.o \
       $(OUT)/tools/twoqueue.bpf.o $(OUT)/tools/floor.bpf.o

# Not shunt's: a do-nothing connect4 program doctor.t attaches beside shunt's (foreign), one named
# and behaving as Cilium's socket LB with socketLB.hostNamespaceOnly (cilium_sock), the
# least sk_msg fast path for halfclose (a kernel fact the README's known hazards cite).
$(OUT)/tools/%.bpf.o: tests/tools/%.bpf.c | $(OUT)/tools
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -I/usr/include/$(shell $(CC) -dumpmachine) -c $< -o $@

# The DaemonSet's image, offline, with podman (scripts/image.sh): amd64 and arm64 under one tag.
image: $(OUT)/shunt $(OUT)/shunt-cni
	$(Q)SHUNT_IMAGE_ARCHS="amd64 arm64" scripts/image.sh

UNIT_BINS := $(addprefix $(OUT)/tests/,$(UNIT_TESTS))

unit: $(UNIT_BINS)
	$(Q)scripts/run-tests.sh --unit

# The kernel tier in C (tests/kernel/test_*.c beyond the unit tests): the real loader, the
# programs attached to a private cgroup, real sockets; no proxy, shell or ip(8), so it also
# links statically (KTEST_STATIC=1) for a guest with nothing else in it.
KTEST_SRCS := user/loader.c user/cgroup.c user/apply.c user/workload.c user/maps.c user/pins.c user/policy.c \
              user/config.c user/values.c user/config_print.c user/ytree.c user/log.c user/jsonw.c user/default_config.c
KTEST_LIBS := -lbpf -lelf -lz -lyaml
KTESTS     := $(OUT)/ktests/test_capture $(OUT)/ktests/test_twopods
$(OUT)/ktests:
	$(Q)mkdir -p $@
$(OUT)/ktests/%: tests/kernel/%.c tests/kernel/ktest.h $(KTEST_SRCS) $(USER_HDRS) $(SKEL) | $(OUT)/ktests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(INCLUDES) $(if $(KTEST_STATIC),-static) -o $@ $< \
		$(KTEST_SRCS) $(KTEST_LIBS)

# make check: the unit tests and the kernel tier, in seconds (root for the kernel tier).
check: $(UNIT_BINS) $(KTESTS)
	$(Q)scripts/run-tests.sh --check

# The whole suite: unit tests, then kernel/e2e tests (root). Ends with "N passed, N failed".
test: all $(UNIT_BINS) $(KTESTS) $(OUT)/tests/shunt-abinext $(OUT)/tests/shunt-prev
	$(Q)scripts/run-tests.sh

# The same suite inside a QEMU guest booted with another kernel: KERNEL=6.1 (Debian 12's
# own), 6.12 (bookworm-backports) or a vmlinuz path. The binaries built here run there.
KERNEL ?= 6.1
vmtest: all $(UNIT_BINS) $(KTESTS) $(OUT)/tests/shunt-abinext $(OUT)/tests/shunt-prev
	$(Q)scripts/vmtest.sh $(KERNEL)

# libFuzzer (clang) with ASan + UBSan on the config parser, the CIDR list files and pod objects,
# each for FUZZ_SECONDS. Seeds: the test fixtures themselves (configs, CIDR files: one copy,
# so the fuzzer starts from what the tests keep current) and tests/fuzz/corpus/pod (pod-object
# fragments in the fuzzer's own format). New finds go to $(OUT)/fuzz/corpus-*/.
FUZZ_TARGETS := fuzz_config fuzz_cidrs fuzz_pod
FUZZ_SECONDS ?= 60
FUZZ_SEEDS_config := $(wildcard tests/fixtures/*.yaml)
FUZZ_SEEDS_cidrs  := $(wildcard tests/fixtures/*.txt)
FUZZ_SEEDS_pod    := $(wildcard tests/fuzz/corpus/pod/*)
$(OUT)/fuzz/%: tests/fuzz/%.c $(PURE_SRCS) $(USER_HDRS) | $(OUT)/tests
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(OUT)/fuzz
	$(Q)$(CLANG) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$(WARN) -Wno-unused-function $(INCLUDES) -o $@ $< $(PURE_SRCS) -lyaml -ljson-c

fuzz: $(addprefix $(OUT)/fuzz/,$(FUZZ_TARGETS))
	$(Q)$(foreach t,$(FUZZ_TARGETS),rm -rf $(OUT)/fuzz/seed-$(t:fuzz_%=%) && \
		mkdir -p $(OUT)/fuzz/seed-$(t:fuzz_%=%) $(OUT)/fuzz/corpus-$(t:fuzz_%=%) && \
		cp $(FUZZ_SEEDS_$(t:fuzz_%=%)) $(OUT)/fuzz/seed-$(t:fuzz_%=%)/ && \
		$(OUT)/fuzz/$(t) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$(OUT)/fuzz/corpus-$(t:fuzz_%=%) $(OUT)/fuzz/seed-$(t:fuzz_%=%) &&) true

# The model-checked apply for longer than make test's 200 generations (MODEL_SEED=N replays).
MODEL_GENERATIONS ?= 3000
modelcheck: all
	$(Q)MODEL_GENERATIONS=$(MODEL_GENERATIONS) scripts/run-tests.sh tests/e2e/modelcheck.t

demo: all
	$(Q)scripts/demo.sh

bench: all
	$(Q)scripts/bench.sh

bench-pods: all
	$(Q)scripts/bench-pods.sh

bench-cni: all
	$(Q)scripts/bench-cni.sh

# What a connection costs (issue 24): per-program ns, BPF per connection in and outside the
# mesh, conns/s against no shunt and against iptables (bench/results/connpath.md).
bench-connpath: all
	$(Q)scripts/bench-connpath.sh

# build/shunt to $(PREFIX)/sbin, shunt(8) to $(PREFIX)/share/man/man8 (DESTDIR for staging).
install: $(OUT)/shunt $(OUT)/shunt-cni
	$(Q)install -D -m 0755 $(OUT)/shunt $(DESTDIR)$(PREFIX)/sbin/shunt
	$(Q)install -D -m 0755 $(OUT)/shunt-cni $(DESTDIR)$(PREFIX)/lib/shunt/shunt-cni
	$(Q)install -D -m 0644 man/shunt.8 $(DESTDIR)$(PREFIX)/share/man/man8/shunt.8
	$(Q)install -D -m 0644 completion/shunt.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/shunt

bench-trace: all
	$(Q)scripts/bench-trace.sh

clean:
	$(call msg,CLEAN,$(OUT))
	$(Q)rm -rf $(OUT)

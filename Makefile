# Superfluid: top-level entry points. `make demo` and `make test` are the whole quick start:
# each installs missing Debian packages (apt-get, as root), builds with meson, and runs.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
MESON_OPTS ?=

# Debian packages needed to build, test and run the demo.
PKGS = meson ninja-build pkg-config gcc clang llvm libclang-rt-14-dev \
       libmnl-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev \
       libfyaml-dev libcmocka-dev libarchive-dev libbpf-dev libssl-dev libnftables-dev \
       uuid-dev nettle-dev \
       runc crun busybox-static iproute2 nftables iperf3 tshark curl jq gnuplot-nox \
       qemu-system-x86 qemu-utils linux-image-cloud-amd64 cpio kmod bpftool socat

.PHONY: all deps build build-asan build-fuzz test test-unit test-api test-system test-fuzz \
        demo demo-down bench clean help

all: build

help:
	@echo "make demo   - install dependencies, build, and run the demonstrator"
	@echo "make test   - install dependencies, build (plain and ASan/UBSan), run every test"
	@echo "make bench  - run the benchmarks (bench/*) and print results"
	@echo "make build  - just build into $(BUILD)/"

deps:
	@./tools/install-deps.sh $(PKGS)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false $(MESON_OPTS)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dtests=false -Db_lundef=false $(MESON_OPTS)

build-fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

test: build build-asan
	./tests/run-all.sh $(BUILD) $(ASAN_BUILD)

test-unit: build build-asan
	./tests/run-all.sh --only unit $(BUILD) $(ASAN_BUILD)

test-api: build build-asan
	./tests/run-all.sh --only api $(BUILD) $(ASAN_BUILD)

test-system: build
	./tests/run-all.sh --only system $(BUILD) $(ASAN_BUILD)

test-fuzz: build build-asan
	./tests/run-all.sh --only fuzz $(BUILD) $(ASAN_BUILD)

demo: build
	./examples/demo.sh $(BUILD)

demo-down:
	./examples/demo.sh --down $(BUILD)

bench: build
	./bench/run-all.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

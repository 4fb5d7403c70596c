# Build and install lnccmd as a C library.
#
#   make                 cargo build --release --locked (and the SONAME link
#                        in target/release, for programs linked in the tree)
#   make install         PREFIX=/usr/local DESTDIR= LIBDIR=$(PREFIX)/lib
#                        INCLUDEDIR=$(PREFIX)/include PKGCONFIGDIR=$(LIBDIR)/pkgconfig
#                        BINDIR=$(PREFIX)/bin MANDIR=$(PREFIX)/share/man
#   make install-debug   the library's debug info, DEBUGDIR=$(LIBDIR)/.debug
#   make uninstall       the same variables
#   make deb             the Debian packages, in DEBDIR=target/deb (scripts/mkdeb)
#   make check           scripts/test, every test
#
# `make install` installs what is in BUILDDIR and runs cargo only when
# nothing was built there, so `make && sudo make install` never runs cargo
# as root (nor leaves root-owned files in target/).
#
# Installed, for version 0.1.0:
#   $(LIBDIR)/liblnccmd.so.0.1.0                       the library
#   $(LIBDIR)/liblnccmd.so.0.1 -> liblnccmd.so.0.1.0   its SONAME: what programs load
#   $(LIBDIR)/liblnccmd.so -> liblnccmd.so.0.1         what -llnccmd finds
#   $(LIBDIR)/liblnccmd.a
#   $(INCLUDEDIR)/lnccmd.h
#   $(PKGCONFIGDIR)/lnccmd.pc                          from lnccmd.pc.in
#   $(BINDIR)/lnccmd                                   the command line
#   $(MANDIR)/man1/lnccmd.1, lnccmd-run.1, lnccmd-sndmail.1, man3/lnccmd.3
#                                                      from man/*.in
# and by `make install-debug`:
#   $(DEBUGDIR)/liblnccmd.so.0.1.0.debug
#
# Stripped, with the debug info apart: the release profile builds with
# debug info (Cargo.toml), and `make install` strips it from the library,
# the archive and the command, as Debian's dh_strip does. The shared
# library keeps a .gnu_debuglink naming liblnccmd.so.0.1.0.debug (with its
# CRC), which `make install-debug` installs: into $(LIBDIR)/.debug by
# default, because gdb looks there for a debuglink with no configuration
# whatever the PREFIX (beside the library, then .debug/, then
# /usr/lib/debug/<the library's folder>), and it stays inside PREFIX, where
# /usr/lib/debug would not. For a system install into /usr,
# DEBUGDIR=/usr/lib/debug$(LIBDIR) is the other place gdb finds it.
# The objcopy runs on a temporary copy: BUILDDIR stays as cargo left it.
#
# The ABI rule: a change that breaks the ABI takes a semver-breaking
# version, and the SONAME carries that number: MAJOR from 1.0, 0.MINOR
# before (build.rs sets it; this file reads it from the built library, so
# the rule is written once).

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DEBUGDIR ?= $(LIBDIR)/.debug
DESTDIR ?=
CARGO ?= cargo
CARGOFLAGS ?=
INSTALL ?= install
OBJCOPY ?= objcopy
# Where `make install` takes the built library from.
BUILDDIR ?= $(or $(CARGO_TARGET_DIR),target)/release
# The command line; the tests give cargo's test build of it.
LNCCMD_BIN ?= $(BUILDDIR)/lnccmd
DEBDIR ?= $(or $(CARGO_TARGET_DIR),target)/deb

# The package version, from Cargo.toml's [package] table.
VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
ifeq ($(VERSION),)
$(error cannot read the version from Cargo.toml)
endif

# Shell code printing the SONAME of the library $(1), or nothing.
soname_of = readelf -d "$(1)" | sed -n 's/.*(SONAME).*\[\(liblnccmd\.so\.[0-9.]*\)\]$$/\1/p'

lib := $(DESTDIR)$(LIBDIR)
# The command line's pages: lnccmd(1), and one per command.
man1 := lnccmd.1 lnccmd-run.1 lnccmd-sndmail.1
real := liblnccmd.so.$(VERSION)

# The sed line giving a file made from an .in template.
fill_in = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|'

.PHONY: all build install install-debug uninstall deb check

all: build

build:
	$(CARGO) build --release --locked $(CARGOFLAGS)
	@soname=$$($(call soname_of,$(BUILDDIR)/liblnccmd.so)); \
	  test -n "$$soname" || { echo "$(BUILDDIR)/liblnccmd.so has no SONAME" >&2; exit 1; }; \
	  ln -sf liblnccmd.so "$(BUILDDIR)/$$soname"

# One cargo build makes both libraries.
$(BUILDDIR)/liblnccmd.so:
	$(MAKE) build

install: $(BUILDDIR)/liblnccmd.so
	@soname=$$($(call soname_of,$(BUILDDIR)/liblnccmd.so)); \
	  test -n "$$soname" || { echo "$(BUILDDIR)/liblnccmd.so has no SONAME: built before build.rs set one? run make" >&2; exit 1; }; \
	  tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  set -x && \
	  $(OBJCOPY) --only-keep-debug "$(BUILDDIR)/liblnccmd.so" "$$tmp/$(real).debug" && \
	  $(OBJCOPY) --strip-unneeded --remove-section=.comment --remove-section=.note \
	    --add-gnu-debuglink="$$tmp/$(real).debug" "$(BUILDDIR)/liblnccmd.so" "$$tmp/$(real)" && \
	  $(OBJCOPY) --strip-debug --remove-section=.comment "$(BUILDDIR)/liblnccmd.a" "$$tmp/liblnccmd.a" && \
	  $(OBJCOPY) --strip-all --remove-section=.comment --remove-section=.note "$(LNCCMD_BIN)" "$$tmp/lnccmd" && \
	  $(INSTALL) -d "$(lib)" "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(PKGCONFIGDIR)" \
	    "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man3" && \
	  $(INSTALL) -m 755 "$$tmp/$(real)" "$(lib)/$(real)" && \
	  ln -sf "$(real)" "$(lib)/$$soname" && \
	  ln -sf "$$soname" "$(lib)/liblnccmd.so" && \
	  $(INSTALL) -m 644 "$$tmp/liblnccmd.a" "$(lib)/liblnccmd.a" && \
	  $(INSTALL) -m 644 include/lnccmd.h "$(DESTDIR)$(INCLUDEDIR)/lnccmd.h" && \
	  $(fill_in) lnccmd.pc.in >"$(DESTDIR)$(PKGCONFIGDIR)/lnccmd.pc" && \
	  chmod 644 "$(DESTDIR)$(PKGCONFIGDIR)/lnccmd.pc" && \
	  $(INSTALL) -m 755 "$$tmp/lnccmd" "$(DESTDIR)$(BINDIR)/lnccmd" && \
	  for page in $(man1); do \
	    $(fill_in) man/$$page.in >"$(DESTDIR)$(MANDIR)/man1/$$page" && \
	    chmod 644 "$(DESTDIR)$(MANDIR)/man1/$$page" || exit 1; \
	  done && \
	  $(fill_in) man/lnccmd.3.in >"$(DESTDIR)$(MANDIR)/man3/lnccmd.3" && \
	  chmod 644 "$(DESTDIR)$(MANDIR)/man3/lnccmd.3"

# The same objcopy of the same library as `make install`'s gives the same
# file, so the CRC in the installed library's debuglink matches.
install-debug: $(BUILDDIR)/liblnccmd.so
	$(INSTALL) -d "$(DESTDIR)$(DEBUGDIR)"
	$(OBJCOPY) --only-keep-debug "$(BUILDDIR)/liblnccmd.so" "$(DESTDIR)$(DEBUGDIR)/$(real).debug"
	chmod 644 "$(DESTDIR)$(DEBUGDIR)/$(real).debug"

# Removes what `make install` of this version installed. The links only
# while they still lead to this version: another one installed since keeps its own.
uninstall:
	@soname=$$(test -f "$(lib)/$(real)" && $(call soname_of,$(lib)/$(real))); \
	  if [ -n "$$soname" ] && [ "$$(readlink "$(lib)/$$soname")" = "$(real)" ]; then \
	    rm -fv "$(lib)/$$soname"; \
	    if [ "$$(readlink "$(lib)/liblnccmd.so")" = "$$soname" ]; then rm -fv "$(lib)/liblnccmd.so"; fi; \
	  fi; \
	  rm -fv "$(lib)/$(real)" "$(lib)/liblnccmd.a" \
	    "$(DESTDIR)$(INCLUDEDIR)/lnccmd.h" "$(DESTDIR)$(PKGCONFIGDIR)/lnccmd.pc" \
	    "$(DESTDIR)$(BINDIR)/lnccmd" $(addprefix "$(DESTDIR)$(MANDIR)/man1/,$(addsuffix ",$(man1))) \
	    "$(DESTDIR)$(MANDIR)/man3/lnccmd.3" "$(DESTDIR)$(DEBUGDIR)/$(real).debug"

# liblnccmdN, liblnccmd-dev and lnccmd .debs of what BUILDDIR holds, for
# the build machine's architecture (scripts/mkdeb says how).
deb: $(BUILDDIR)/liblnccmd.so
	scripts/mkdeb "$(DEBDIR)" BUILDDIR="$(BUILDDIR)" LNCCMD_BIN="$(LNCCMD_BIN)" \
	  OBJCOPY="$(OBJCOPY)" MAKE="$(MAKE)"

check:
	scripts/test

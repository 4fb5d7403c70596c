# Build and install lnccmd as a C library.
#
#   make                 cargo build --release --locked (and the SONAME link
#                        in target/release, for programs linked in the tree)
#   make install         PREFIX=/usr/local DESTDIR= LIBDIR=$(PREFIX)/lib
#                        INCLUDEDIR=$(PREFIX)/include PKGCONFIGDIR=$(LIBDIR)/pkgconfig
#   make uninstall       the same variables
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
#
# The ABI rule: a change that breaks the ABI takes a semver-breaking
# version, and the SONAME carries that number: MAJOR from 1.0, 0.MINOR
# before (build.rs sets it; this file reads it from the built library, so
# the rule is written once).

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=
CARGO ?= cargo
CARGOFLAGS ?=
INSTALL ?= install
# Where `make install` takes the built library from.
BUILDDIR ?= $(or $(CARGO_TARGET_DIR),target)/release

# The package version, from Cargo.toml's [package] table.
VERSION := $(shell sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
ifeq ($(VERSION),)
$(error cannot read the version from Cargo.toml)
endif

# Shell code printing the SONAME of the library $(1), or nothing.
soname_of = readelf -d "$(1)" | sed -n 's/.*(SONAME).*\[\(liblnccmd\.so\.[0-9.]*\)\]$$/\1/p'

lib := $(DESTDIR)$(LIBDIR)
real := liblnccmd.so.$(VERSION)

.PHONY: all build install uninstall check

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
	  set -x; \
	  $(INSTALL) -d "$(lib)" "$(DESTDIR)$(INCLUDEDIR)" "$(DESTDIR)$(PKGCONFIGDIR)" && \
	  $(INSTALL) -m 755 "$(BUILDDIR)/liblnccmd.so" "$(lib)/$(real)" && \
	  ln -sf "$(real)" "$(lib)/$$soname" && \
	  ln -sf "$$soname" "$(lib)/liblnccmd.so" && \
	  $(INSTALL) -m 644 "$(BUILDDIR)/liblnccmd.a" "$(lib)/liblnccmd.a" && \
	  $(INSTALL) -m 644 include/lnccmd.h "$(DESTDIR)$(INCLUDEDIR)/lnccmd.h" && \
	  sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    lnccmd.pc.in >"$(DESTDIR)$(PKGCONFIGDIR)/lnccmd.pc" && \
	  chmod 644 "$(DESTDIR)$(PKGCONFIGDIR)/lnccmd.pc"

# Removes what `make install` of this version installed. The links only
# while they still lead to this version: another one installed since keeps its own.
uninstall:
	@soname=$$(test -f "$(lib)/$(real)" && $(call soname_of,$(lib)/$(real))); \
	  if [ -n "$$soname" ] && [ "$$(readlink "$(lib)/$$soname")" = "$(real)" ]; then \
	    rm -fv "$(lib)/$$soname"; \
	    if [ "$$(readlink "$(lib)/liblnccmd.so")" = "$$soname" ]; then rm -fv "$(lib)/liblnccmd.so"; fi; \
	  fi; \
	  rm -fv "$(lib)/$(real)" "$(lib)/liblnccmd.a" \
	    "$(DESTDIR)$(INCLUDEDIR)/lnccmd.h" "$(DESTDIR)$(PKGCONFIGDIR)/lnccmd.pc"

check:
	scripts/test

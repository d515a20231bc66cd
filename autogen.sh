#!/bin/sh
# Generates ./configure and the Makefile templates from configure.ac and Makefile.am.
set -eu
cd "$(dirname "$0")"
mkdir -p build-aux m4
# The TAP test driver ships with automake but is not installed by --add-missing.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/tap-driver.sh
autoreconf --install --force

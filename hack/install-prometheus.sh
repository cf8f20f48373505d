#!/bin/sh
# Installs promtool (Debian's prometheus package, 2.42) for `make test-alerts`.
# Idempotent: does nothing when promtool is already on PATH. Needs root (or sudo) for apt-get.
set -eu

if command -v promtool >/dev/null 2>&1; then
	echo "promtool already installed: $(promtool --version 2>&1 | head -n 1)"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "install-prometheus.sh: run as root (apt-get install prometheus)" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends prometheus; then
	$SUDO apt-get update
	$SUDO apt-get install -y --no-install-recommends prometheus
fi
promtool --version 2>&1 | head -n 1

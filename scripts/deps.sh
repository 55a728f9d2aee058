#!/bin/sh
# Installs what building and testing onside-agent needs (Debian 11, 12, 13; run as root).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	build-essential cmake pkg-config python3 ca-certificates openssl \
	libcurl4-openssl-dev libyaml-dev libjson-c-dev libpcre2-dev libssl-dev libcmocka-dev zlib1g-dev \
	logrotate strace tzdata man-db groff-base

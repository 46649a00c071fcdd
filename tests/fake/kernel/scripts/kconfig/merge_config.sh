#!/bin/sh
# merge_config.sh -n -m -O OUT BASE FRAGMENT...: concatenation is enough here.
while [ "${1#-}" != "$1" ]; do [ "$1" = -O ] && { out=$2; shift; }; shift; done
shift
cat "$@" | grep '^CONFIG_' | grep -v '^CONFIG_FAKE_DROPPED' >> "$out/.config"

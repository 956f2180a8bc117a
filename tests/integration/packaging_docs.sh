#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# packaging_docs.sh — the man pages render without a groff warning and do not drift from
# the code:
#   - berth(1) has a section for every command and subcommand `berth --help` lists, and
#     mentions every long option their --help prints;
#   - berth.conf(5) documents every key the agent reads (config_get*() and known-keys
#     tables in agent/), under its section;
#   - berth-server(1) documents every key berth-server knows (known_keys in
#     server-stub/conf/settings.c) and every command its usage lists.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

command -v groff >/dev/null || t_skip "groff not installed (scripts/deps.sh: groff-base)"
M=$BERTH_SRC/packaging/man
W=$(t_tmpdir)

for page in "$M"/*.[15]; do
        warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
        t_assert_eq "$warn" "" "groff warnings in $(basename "$page")"
done

# Roff source with its escapes removed, for plain-text searches.
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\e/\\/g' "$1"; }
plain "$M/berth.1" >"$W/berth.1.txt"
plain "$M/berth.conf.5" >"$W/berth.conf.5.txt"
plain "$M/berth-server.1" >"$W/berth-server.1.txt"

# 1. berth(1): commands, subcommands, options.
cmds=$("$BERTH" --help | awk '/^Commands:/ { on = 1; next } on && NF >= 2 && /^  [a-z]/ { print $1 }')
[ -n "$cmds" ] || t_fail "no commands in berth --help"
for c in $cmds; do
        grep -q "^\.SS \"berth $c\b" "$W/berth.1.txt" || t_fail "berth(1) has no section for 'berth $c'"
        subs=
        case "$c" in
        bundle) subs=$("$BERTH" bundle --help | awk '/^  [a-z]+ / { print $1 }') ;;
        mirror) subs="push config" ;;
        esac
        helps=("$c")
        for s in $subs; do
                grep -q "^\.SS \"berth $c $s\b" "$W/berth.1.txt" || t_fail "berth(1) has no section for 'berth $c $s'"
                helps+=("$c $s")
        done
        for h in "${helps[@]}"; do
                # shellcheck disable=SC2086 # "bundle create" is two words on purpose
                for o in $("$BERTH" $h --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
                        [ "$o" = --help ] && continue
                        grep -qF -- "$o" "$W/berth.1.txt" || t_fail "berth(1) does not mention 'berth $h $o'"
                done
        done
done
t_log "berth(1): commands $(echo $cmds | tr '\n' ' ')documented with their options"

# 2. berth.conf(5): every key the agent reads, in its section.
# Keys read with config_get*(), plus every "section.key" in a known-keys table (the
# agent daemon's settings).
keys=$({
        grep -rhoE 'config_get[a-z0-9_]*\([a-z]+, "[a-z_.]+"' "$BERTH_SRC/agent" | sed -E 's/.*"(.*)"/\1/'
        for f in "$BERTH_SRC"/agent/*/*.c; do
                sed -n '/known_keys\[\] = {/,/NULL/p' "$f" | grep -v '^[[:space:]]*/\*' | grep -oE '"[a-z_]+(\.[a-z_]+)?"' | tr -d '"' || true
        done
} | sort -u)
[ -n "$keys" ] || t_fail "no config_get() calls found in agent/"
python3 - "$W/berth.conf.5.txt" $keys <<'PY' || t_fail "berth.conf(5) misses keys (above)"
import re, sys
sec, documented = "", set()
for line in open(sys.argv[1]):
    m = re.match(r'^\.SH\s+"?\[?([A-Za-z_ ]+?)\]?"?\s*$', line)
    if m:
        name = m.group(1).strip()
        sec = "" if name == "GENERAL" else name if name.islower() else None
        continue
    if sec is None:
        continue
    m = re.match(r'^\.BR?\s+(.*)$', line)
    if m:
        for w in re.findall(r'[a-z_]+', m.group(1)):
            documented.add(f"{sec}.{w}" if sec else w)
missing = [k for k in sys.argv[2:] if k not in documented]
for k in missing:
    print(f"berth.conf(5) does not document '{k}'", file=sys.stderr)
sys.exit(1 if missing else 0)
PY
t_log "berth.conf(5): $(echo "$keys" | wc -l) keys documented"

# 3. berth-server(1): config keys and commands.
skeys=$(sed -n '/known_keys\[\] = {/,/NULL/p' "$BERTH_SRC/server-stub/conf/settings.c" | grep -oE '"[a-z_]+\.[a-z_]+"' | tr -d '"')
[ -n "$skeys" ] || t_fail "no known_keys in server-stub/conf/settings.c"
for k in $skeys; do
        sec=${k%%.*} key=${k#*.}
        # The key's name must appear in its section's paragraph (".B [sec]" up to the next ".TP").
        awk -v s="[$sec]" '$0 == ".B " s { on = 1; next } on && /^\.TP/ { on = 0 } on' "$W/berth-server.1.txt" |
                grep -qw -- "$key" || t_fail "berth-server(1) does not document '$k'"
done
for c in $("$BERTH_BUILD/server-stub/berth-server" --help 2>&1 | awk '/^  [a-z]+ / { print $1 }'); do
        grep -qE "^\.(B|BI|BR) \"?$c\b" "$W/berth-server.1.txt" || t_fail "berth-server(1) has no entry for '$c'"
done
t_log "berth-server(1): $(echo "$skeys" | wc -l) keys and every command documented"

#!/usr/bin/env bash
# Builds the self-contained release binary and installs it with its shell completions and man page:
#   PREFIX/bin/cairn
#   PREFIX/share/bash-completion/completions/cairn
#   PREFIX/share/zsh/site-functions/_cairn
#   PREFIX/share/fish/vendor_completions.d/cairn.fish
#   PREFIX/share/man/man1/cairn.1
#
#   scripts/install.sh [PREFIX]     PREFIX defaults to /usr/local
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-/usr/local}"
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

scripts/deps.sh
# Every product, in release: the man page plugin below builds the same set, so it has nothing left to do.
swift build -c release 2>&1 | tail -n 1
bin=.build/release/cairn

install -d "$prefix/bin" "$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions" \
  "$prefix/share/fish/vendor_completions.d" "$prefix/share/man/man1"
install -m 0755 "$bin" "$prefix/bin/cairn"

# Completions: argument-parser writes them from the command tree.
"$bin" --generate-completion-script bash > "$prefix/share/bash-completion/completions/cairn"
"$bin" --generate-completion-script zsh  > "$prefix/share/zsh/site-functions/_cairn"
"$bin" --generate-completion-script fish > "$prefix/share/fish/vendor_completions.d/cairn.fish"

# The man page: argument-parser's generate-manual plugin, one page for cairn and every subcommand.
# It writes into the plugin's own folder under .build/plugins/.
rm -rf .build/plugins/GenerateManual/outputs/cairn
swift package plugin generate-manual 2>&1 | tail -n 2
page=$(find .build/plugins -path '*GenerateManual*' -name cairn.1 | head -n 1)
[ -n "$page" ] || { echo "install: generate-manual wrote no cairn.1" >&2; exit 1; }
install -m 0644 "$page" "$prefix/share/man/man1/cairn.1"

echo "installed $("$prefix/bin/cairn" --version) into $prefix"

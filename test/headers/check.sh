#!/bin/sh
# Each public header must compile on its own as C99 -pedantic and as C++.
set -u
inc="$1"
cc="${CC:-cc}"
cxx="${CXX:-c++}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
for h in $(cd "$inc" && find swarm -name '*.h' | sort); do
    printf '#include <%s>\nint main(void) { return 0; }\n' "$h" > "$tmp/t.c"
    cp "$tmp/t.c" "$tmp/t.cpp"
    if "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -I"$inc" -fsyntax-only "$tmp/t.c" &&
       "$cxx" -std=c++11 -pedantic -Wall -Wextra -Werror -I"$inc" -fsyntax-only "$tmp/t.cpp"; then
        echo "ok   $h"
        pass=$((pass + 1))
    else
        echo "FAIL $h"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

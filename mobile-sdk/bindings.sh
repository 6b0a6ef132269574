#!/usr/bin/env bash
# The SDK's generated bindings, and their tests against the real server binary.
#
#   mobile-sdk/bindings.sh generate            Kotlin, Swift and Python into target/sdk-bindings/
#   mobile-sdk/bindings.sh test [python] [kotlin]   (both when none is named)
#   mobile-sdk/bindings.sh prepare [python] [kotlin]   their toolchains only, nothing built
#
# The bindings come from the built debug library with the crate's own uniffi-bindgen (library
# mode). `test` runs the pytest suite (mobile-sdk/tests/python) and the Kotlin test program
# (mobile-sdk/tests/kotlin) against `target/debug/gp-online`. What they need is cached under
# target/: a virtualenv with the pinned requirements, the Kotlin compiler (the npm package
# pinned in mobile-sdk/tests/kotlin/package-lock.json, which ships kotlinx-coroutines) and
# Debian's JNA.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
debug="$target/debug"
bindings="$target/sdk-bindings"
action="${1:-}"
shift || true
languages=("$@")
case "$action" in
generate) languages=(kotlin swift python) ;;
test | prepare) [ ${#languages[@]} -gt 0 ] || languages=(python kotlin) ;;
*)
  echo "usage: mobile-sdk/bindings.sh generate | prepare [python] [kotlin] | test [python] [kotlin]" >&2
  exit 2
  ;;
esac

apt_install() {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# The toolchains, cached under the target directory: a Python virtualenv with pytest, and the
# Kotlin compiler (npm) with Java and JNA (Debian). `prepare` makes them without building
# anything, so CI can fetch them while the workspace compiles.
venv="$target/sdk-python-venv"
compiler="$target/kotlin-compiler"
kotlin="$compiler/node_modules/kotlin-compiler"
prepare_python() {
  command -v python3 >/dev/null || apt_install python3
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  if ! cmp -s mobile-sdk/tests/python/requirements.txt "$venv/requirements.txt"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r mobile-sdk/tests/python/requirements.txt
    cp mobile-sdk/tests/python/requirements.txt "$venv/requirements.txt"
  fi
}
prepare_kotlin() {
  command -v java >/dev/null || apt_install openjdk-17-jdk-headless
  [ -f /usr/share/java/jna.jar ] || apt_install libjna-java
  command -v npm >/dev/null || apt_install nodejs npm
  if ! cmp -s mobile-sdk/tests/kotlin/package-lock.json "$compiler/package-lock.json"; then
    rm -rf "$compiler"
    mkdir -p "$compiler"
    cp mobile-sdk/tests/kotlin/package.json mobile-sdk/tests/kotlin/package-lock.json "$compiler/"
    (cd "$compiler" && npm ci --no-audit --no-fund --ignore-scripts)
  fi
}

if [ "$action" = prepare ]; then
  for language in "${languages[@]}"; do
    "prepare_$language"
  done
  exit 0
fi

# The debug build of the workspace's tests makes the server binary, the library and
# uniffi-bindgen (the tests crate turns on the SDK's `bindgen` feature): after `cargo test
# --workspace` this builds nothing, and the same features mean no second build of anything.
cargo test --workspace --no-run --quiet
# (cargo makes a package's binaries for its integration tests: mobile-sdk/tests/cli.rs.)
[ -x "$debug/uniffi-bindgen" ] || cargo build -p gp-online-sdk --features bindgen --bin uniffi-bindgen
# A test build leaves the library in deps/ (only `cargo build` copies it up).
library="$debug/libgp_online_sdk.so"
[ -f "$library" ] || library="$debug/deps/libgp_online_sdk.so"
server="$(realpath "$debug/gp-online")"

generate() {
  local language=$1
  rm -rf "${bindings:?}/$language"
  "$debug/uniffi-bindgen" generate --library "$library" --language "$language" \
    --out-dir "$bindings/$language" --no-format
}

if [ "$action" = generate ]; then
  for language in "${languages[@]}"; do
    generate "$language"
  done
  cp "$library" "$bindings/python/"
  cp "$library" "$bindings/kotlin/"
  echo "generated into $bindings/{kotlin,swift,python}"
  exit 0
fi

for language in "${languages[@]}"; do
  case "$language" in
  python)
    generate python
    cp "$library" "$bindings/python/"
    prepare_python
    GP_ONLINE_BIN="$server" GP_ONLINE_SDK_PYTHON="$(realpath "$bindings/python")" \
      "$venv/bin/python" -m pytest -q -p no:cacheprovider mobile-sdk/tests/python
    ;;
  kotlin)
    generate kotlin
    cp "$library" "$bindings/kotlin/"
    prepare_kotlin
    classpath="/usr/share/java/jna.jar:$kotlin/lib/kotlinx-coroutines-core-jvm.jar:$kotlin/lib/kotlin-test.jar"
    classes="$target/sdk-kotlin-tests"
    rm -rf "$classes"
    bash "$kotlin/bin/kotlinc" -nowarn -jvm-target 17 -cp "$classpath" -d "$classes" \
      "$bindings/kotlin/uniffi/gp_online_sdk/gp_online_sdk.kt" mobile-sdk/tests/kotlin/src/*.kt
    java -Djna.library.path="$(realpath "$bindings/kotlin")" \
      -cp "$classes:$kotlin/lib/kotlin-stdlib.jar:$classpath" gponline.sdktest.BindingTestsKt "$server"
    ;;
  *)
    echo "unknown language: $language (python or kotlin)" >&2
    exit 2
    ;;
  esac
done

# Shared by the scripts: installs the pinned tools the page needs when they
# are missing or at another version.

# The wasm-bindgen version Cargo.lock pins (the CLI must match it exactly).
wasm_bindgen_version() {
  grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p'
}

TRUNK_VERSION=0.21.14

# axe-core, the accessibility checker the end-to-end tests inject into the page.
AXE_CORE_VERSION=4.10.3

install_page_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
  fi
  local want
  want=$(wasm_bindgen_version)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    # Not --locked: the CLI's own lock file pins a yanked crate.
    cargo install wasm-bindgen-cli --version "$want"
  fi
  if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$TRUNK_VERSION" ]; then
    # trunk's release profile asks for fat LTO in one codegen unit, which
    # doubles its build time for no gain a page build would notice.
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo install trunk --version "$TRUNK_VERSION" --locked
  fi
  install_axe_core
}

# axe-core into target/npm (the e2e crate reads
# target/npm/node_modules/axe-core/axe.min.js); nothing to do, and no network,
# when that version is there already.
install_axe_core() {
  local dir=target/npm
  local have
  have=$(node -p "require('./$dir/node_modules/axe-core/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$AXE_CORE_VERSION" ]; then
    npm install --no-save --no-audit --no-fund --prefix "$dir" "axe-core@$AXE_CORE_VERSION"
  fi
}

# The page's threaded build (scripts/page-threads) rebuilds Rust's standard
# library with atomics, which takes a compiler and its library's source of
# the very same version: Debian's rustc-web packages (rustup's nightly with
# rust-src would do as well, but is not among the package registries).
THREADS_RUSTC=/usr/bin/rustc
THREADS_RUSTDOC=/usr/bin/rustdoc
THREADS_CARGO=/usr/bin/cargo
THREADS_LIBRARY=/usr/lib/rustlib/src/rust/library
THREADS_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm)

threads_toolchain_present() {
  [ -x "$THREADS_RUSTC" ] && [ -x "$THREADS_CARGO" ] && [ -d "$THREADS_LIBRARY/std" ] \
    && "$THREADS_RUSTC" --print target-list 2>/dev/null | grep -qx wasm32-unknown-unknown \
    && command -v rust-lld >/dev/null
}

install_threads_toolchain() {
  threads_toolchain_present && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "The page's CPU threads need: apt-get install ${THREADS_PACKAGES[*]} (as root, on Debian);" \
      "without them the page is built for one CPU thread." >&2
    return 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${THREADS_PACKAGES[@]}"
}

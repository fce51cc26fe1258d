# Shared by the scripts: installs the pinned tools the page needs when they
# are missing or at another version.

# The wasm-bindgen version Cargo.lock pins (the CLI must match it exactly).
wasm_bindgen_version() {
  grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p'
}

TRUNK_VERSION=0.21.14

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
}

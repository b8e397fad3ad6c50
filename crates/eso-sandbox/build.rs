//! Build script: tells the tests which real servers (kubectl, OpenBao, moto) are on PATH, so the ones
//! whose server is missing are reported by cargo as ignored with the reason, never as passed
//! (see `build-support/test_servers.rs`; with CI=true nothing is ignored).

#[path = "../../build-support/test_servers.rs"]
mod test_servers;

fn main() {
    test_servers::emit();
}

//! The `gp-online` binary: a thin shim over [`gp_online::cli`], so everything it does is
//! reachable from tests.

use std::process::ExitCode;

fn main() -> ExitCode {
    gp_online::cli::main()
}

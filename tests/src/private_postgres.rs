//! A private PostgreSQL cluster for tests that stop and restart the database under a running
//! server. The PostgreSQL server the rest of the run shares is never touched: this one lives in a
//! temporary directory, listens on a free loopback port and is stopped when dropped. PostgreSQL
//! refuses to run as root, so under root its commands run as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running (or stopped) throw-away cluster.
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    /// Creates the cluster (trust authentication, user `postgres`) and starts it.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        if running_as_root() {
            // The cluster's files must belong to the user the server runs as.
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the cluster directory failed");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            bin,
            data,
            port,
            _dir: dir,
        };
        cluster.run(
            "initdb",
            &["-U", "postgres", "--auth=trust", "--no-sync", "-D"],
            true,
        );
        cluster.start_again();
        cluster
    }

    /// The admin URL of the cluster.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the stopped cluster on the same port and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.display()
        );
        self.run("pg_ctl", &["-w", "-t", "60", "-o", &options, "-D"], true);
    }

    /// Stops the cluster at once, as a crash or an operator's immediate restart would:
    /// connections are cut without a goodbye.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-w", "-m", "immediate", "-D"], false);
    }

    /// Runs `program` from the cluster's binaries with `args`, then the data directory, then
    /// `start`/`stop` for `pg_ctl` (`starting` chooses which).
    fn run(&self, program: &str, args: &[&str], starting: bool) {
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join(program));
            command
        } else {
            Command::new(self.bin.join(program))
        };
        command.args(args).arg(&self.data);
        if program == "pg_ctl" {
            command.arg(if starting { "start" } else { "stop" });
            command
                .arg("-l")
                .arg(self.data.with_file_name("server.log"));
        }
        let output = command
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
        assert!(
            output.status.success(),
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            self.stop();
        }
    }
}

/// The PostgreSQL server binaries: `pg_config --bindir`, as Debian and the upstream packages
/// install them.
fn bin_dir() -> PathBuf {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("pg_config is on PATH (PostgreSQL's server package)");
    let dir = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    assert!(
        Path::new(&dir).join("pg_ctl").exists(),
        "no pg_ctl in {}",
        dir.display()
    );
    dir
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

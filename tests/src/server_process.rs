//! The `gp-online serve` binary as a child process, as an operator runs it: its own process on
//! a port of its own, over HTTPS with its development certificate (or plain HTTP), on a database
//! the caller prepared. Its standard output and error are kept in files so a load run can scan
//! every line it wrote; it can be killed with SIGKILL and started again on the same port, data
//! directory and database, as after a crash.

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How the server is started.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// HTTPS with the development certificate; plain HTTP (`serve --http`) when false.
    pub tls: bool,
    /// The tracing filter (`GP_ONLINE__LOG__FILTER`).
    pub log_filter: String,
    /// Further `GP_ONLINE__…` settings.
    pub env: Vec<(String, String)>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            tls: true,
            log_filter: "info".to_owned(),
            env: Vec::new(),
        }
    }
}

/// A running `gp-online serve` process, killed when dropped.
pub struct ServerProcess {
    child: tokio::process::Child,
    binary: PathBuf,
    database_url: String,
    options: ServeOptions,
    /// `127.0.0.1:<port>`.
    pub address: String,
    /// The development certificate (PEM) the server presents.
    pub pem: Vec<u8>,
    /// A client trusting that certificate.
    pub client: reqwest::Client,
    /// How many times the process was started (1 for the first).
    pub starts: usize,
    data: tempfile::TempDir,
}

/// The `gp-online` binary of the same build profile as the running example or test
/// (`target/<profile>/gp-online` beside `target/<profile>/examples/`).
pub fn binary_beside_current_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().context("the executable's folder")?;
    if dir
        .file_name()
        .is_some_and(|name| name == "examples" || name == "deps")
    {
        dir = dir.parent().context("the profile folder")?;
    }
    Ok(dir.join("gp-online"))
}

impl ServerProcess {
    /// Starts `binary` on `database_url` (already migrated or not: the server migrates at
    /// start) and waits until `/readyz` answers 200.
    pub async fn start(
        binary: &Path,
        database_url: &str,
        options: ServeOptions,
    ) -> anyhow::Result<Self> {
        if !binary.exists() {
            bail!(
                "{} does not exist: build it first (`cargo build -p gp-online`, with --release \
                 for a release run)",
                binary.display()
            );
        }
        let data = tempfile::tempdir()?;
        // The development certificate is made here first; the server then reuses it.
        let (cert_path, _) = gp_online::tls::ensure_dev_certificate(data.path())?;
        let pem = std::fs::read(cert_path)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem)?])
            .pool_max_idle_per_host(usize::MAX)
            .build()?;
        let child = spawn(binary, database_url, &options, data.path(), port, 1)?;
        let mut server = Self {
            child,
            binary: binary.to_owned(),
            database_url: database_url.to_owned(),
            options,
            address: format!("127.0.0.1:{port}"),
            pem,
            client,
            starts: 1,
            data,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// `https://127.0.0.1:<port>` (or `http://`).
    pub fn base_url(&self) -> String {
        let scheme = if self.options.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The server's CPU time so far, user and system (`/proc/<pid>/stat`, in the kernel's
    /// clock ticks of 1/100 s).
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let pid = self.pid().context("the server has exited")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The fields after the command name, which is in parentheses and may hold spaces:
        // utime and stime are the 12th and 13th of them.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("a stat line")?
            .1
            .split_whitespace()
            .collect();
        let ticks = |i: usize| -> anyhow::Result<u64> {
            Ok(fields.get(i).context("a stat field")?.parse()?)
        };
        Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
    }

    /// The server's resident memory (`VmRSS`), in bytes.
    pub fn resident(&self) -> anyhow::Result<u64> {
        let pid = self.pid().context("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .context("no VmRSS line")?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .context("VmRSS without a value")?
            .parse()?;
        Ok(kb * 1024)
    }

    /// Kills the process with SIGKILL (no shutdown of any kind) and waits for it to be gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Starts the binary again on the same port, data directory and database, and waits until
    /// it is ready.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let port: u16 = self.address.rsplit(':').next().context("a port")?.parse()?;
        self.starts += 1;
        self.child = spawn(
            &self.binary,
            &self.database_url,
            &self.options,
            self.data.path(),
            port,
            self.starts,
        )?;
        self.wait_ready().await
    }

    /// Everything the server wrote to its standard output and error, over every start.
    pub fn output(&self) -> anyhow::Result<String> {
        let mut all = String::new();
        for start in 1..=self.starts {
            for stream in ["out", "err"] {
                let path = self.data.path().join(format!("server-{start}.{stream}"));
                if path.exists() {
                    all.push_str(&String::from_utf8_lossy(&std::fs::read(path)?));
                }
            }
        }
        Ok(all)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/readyz", self.base_url());
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited ({status}): {}",
                    self.output().unwrap_or_default()
                );
            }
            let ready = self
                .client
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server did not become ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn spawn(
    binary: &Path,
    database_url: &str,
    options: &ServeOptions,
    data: &Path,
    port: u16,
    start: usize,
) -> anyhow::Result<tokio::process::Child> {
    let out = std::fs::File::create(data.join(format!("server-{start}.out")))?;
    let err = std::fs::File::create(data.join(format!("server-{start}.err")))?;
    let mut command = tokio::process::Command::new(binary);
    command.arg("serve");
    if !options.tls {
        command.arg("--http");
    }
    command
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .env("GP_ONLINE__DATABASE__URL", database_url)
        .env("GP_ONLINE__LOG__FILTER", &options.log_filter)
        .env_remove("RUST_LOG");
    for (key, value) in &options.env {
        command.env(key, value);
    }
    command
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

//! Child processes of this binary (stopped gracefully when dropped) and a gateway on a free
//! loopback port, for `up` and the load and agent benchmarks.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;

/// A child process stopped when dropped: SIGTERM (an agent then stops its bots, a gateway
/// closes its store), SIGKILL after a grace period, then reaped.
#[derive(Debug)]
pub struct Child(pub std::process::Child);

impl Child {
    /// SIGTERM, wait up to `grace`, then SIGKILL; returns at once if it already exited.
    pub fn stop(&mut self, grace: std::time::Duration) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let start = std::time::Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!(
            "process {} did not stop in {grace:?}; killing it",
            self.0.id()
        );
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop(std::time::Duration::from_secs(15));
    }
}

/// A running gateway: its process, address and admin token.
#[derive(Debug)]
pub struct LocalGateway {
    /// The process (killed on drop).
    pub child: Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// The admin token it wrote on first start.
    pub token: String,
    /// Its data directory (`admin.token` is in it).
    pub dir: std::path::PathBuf,
}

impl LocalGateway {
    /// Starts `sniperforge gateway` over SQLite in `dir` and waits until it listens.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut child = Child(
            std::process::Command::new(std::env::current_exe()?)
                .args(["gateway", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(dir)
                .arg("--database")
                .arg(format!("sqlite://{}", dir.join("g.db").display()))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .context("starting the gateway")?,
        );
        let stdout = child.0.stdout.take().context("gateway stdout")?;
        let mut addr = None;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(rest) = line.strip_prefix("gateway listening on http://") {
                addr = rest.split('/').next().and_then(|a| a.parse().ok());
                break;
            }
        }
        let addr = addr.context("the gateway did not say where it listens")?;
        let token = std::fs::read_to_string(dir.join("admin.token"))?
            .trim()
            .to_string();
        Ok(Self {
            child,
            addr,
            token,
            dir: dir.to_path_buf(),
        })
    }
}

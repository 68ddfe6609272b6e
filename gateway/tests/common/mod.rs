//! Helpers shared by the gateway integration tests.

/// A throwaway PostgreSQL cluster on loopback, stopped on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    pg_ctl: std::path::PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn start() -> Option<Self> {
        let bin = [
            "/usr/lib/postgresql/15/bin",
            "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/17/bin",
        ]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|d| d.join("initdb").is_file())?;
        let dir = tempfile::tempdir().ok()?;
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .ok()?
            .stdout
            == b"0\n";
        let run = |args: &[&str]| -> bool {
            let mut c = if root {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", "postgres", "--"]);
                c
            } else {
                std::process::Command::new(args[0])
            };
            if root {
                c.args(args);
            } else {
                c.args(&args[1..]);
            }
            c.output().map(|o| o.status.success()).unwrap_or(false)
        };
        if root {
            std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .ok()?;
        }
        let data = dir.path().join("data");
        let initdb = bin.join("initdb");
        if !run(&[
            initdb.to_str()?,
            "-D",
            data.to_str()?,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ]) {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let pg_ctl = bin.join("pg_ctl");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off",
            dir.path().display()
        );
        if !run(&[
            pg_ctl.to_str()?,
            "-D",
            data.to_str()?,
            "-w",
            "-o",
            &opts,
            "-l",
            dir.path().join("log").to_str()?,
            "start",
        ]) {
            return None;
        }
        Some(Self { dir, pg_ctl, port })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"])
            .arg(&self.pg_ctl)
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "stop"]);
        if c.output().map(|o| !o.status.success()).unwrap_or(true) {
            let _ = std::process::Command::new(&self.pg_ctl)
                .arg("-D")
                .arg(&data)
                .args(["-m", "fast", "stop"])
                .output();
        }
    }
}

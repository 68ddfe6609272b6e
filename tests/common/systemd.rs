//! A private `systemd --user` for tests, in its own mount **and cgroup** namespace rooted at a
//! fresh sub-cgroup (../shared/notes/control-plane.md: never without the cgroup namespace — the
//! plain way moves every process on the machine into new cgroups). Needs root; without it the
//! caller prints SKIP loudly.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct PrivateSystemd {
    pub pid: u32,
    pub runtime_dir: PathBuf,
    pub config_home: PathBuf,
    cgroup: PathBuf,
}

/// Why a private systemd cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !is_root() {
        return Some("not root (CI runs as root)".into());
    }
    if !Path::new("/lib/systemd/systemd").exists() {
        return Some(
            "/lib/systemd/systemd missing (apt-get install systemd dbus-user-session)".into(),
        );
    }
    if !Path::new("/usr/lib/systemd/user/dbus.socket").exists() {
        return Some("no user D-Bus unit (apt-get install dbus-user-session)".into());
    }
    if cgroup2_mount().is_none() {
        return Some("no cgroup2 mount".into());
    }
    None
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn cgroup2_mount() -> Option<PathBuf> {
    let out = Command::new("findmnt")
        .args(["-n", "-o", "TARGET", "-t", "cgroup2"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| PathBuf::from(l.trim()))
        .filter(|p| !p.as_os_str().is_empty())
}

const LAUNCH: &str = r#"
set -eu
ORIG=$(sed -n 's/^0:://p' /proc/self/cgroup)
mkdir -p "$SUB"
echo $$ > "$SUB/cgroup.procs"
rm -f "$RUNTIME/bus"
unshare --mount --cgroup --propagation private sh -c '
  mount -t tmpfs none /run/systemd && mkdir -p /run/systemd/system
  mount -t cgroup2 none /sys/fs/cgroup
  export XDG_RUNTIME_DIR="$RUNTIME" HOME="$HOMEDIR" XDG_CONFIG_HOME="$HOMEDIR/.config"
  exec /lib/systemd/systemd --user
' > "$LOG" 2>&1 &
echo $! > "$PIDFILE"
echo $$ > "$CG2$ORIG/cgroup.procs"
"#;

impl PrivateSystemd {
    /// Starts one under `dir` and waits for its bus socket.
    pub fn start(dir: &Path) -> Self {
        let cg2 = cgroup2_mount().expect("cgroup2 mount");
        let name = format!(
            "sniperforge-test-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ (dir.as_os_str().len() as u128)
        );
        let sub = cg2.join(&name);
        let runtime = dir.join("runtime");
        let home = dir.join("home");
        for d in [&runtime, &home] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .unwrap();
        }
        let pidfile = dir.join("systemd.pid");
        let status = Command::new("bash")
            .arg("-c")
            .arg(LAUNCH)
            .env("SUB", &sub)
            .env("CG2", &cg2)
            .env("RUNTIME", &runtime)
            .env("HOMEDIR", &home)
            .env("LOG", dir.join("systemd.log"))
            .env("PIDFILE", &pidfile)
            .status()
            .unwrap();
        assert!(status.success(), "launching the private systemd failed");
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let me = Self {
            pid,
            runtime_dir: runtime.clone(),
            config_home: home.join(".config"),
            cgroup: sub,
        };
        let bus = runtime.join("bus");
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&bus).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no bus socket at {} after 20 s; systemd log:\n{}",
                bus.display(),
                std::fs::read_to_string(dir.join("systemd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        me
    }

    /// The D-Bus address of its user bus.
    pub fn bus(&self) -> String {
        format!("unix:path={}", self.runtime_dir.join("bus").display())
    }

    /// `systemctl --user` against it.
    pub fn systemctl(&self, args: &[&str]) -> std::process::Output {
        Command::new("systemctl")
            .arg("--user")
            .args(args)
            .env("XDG_RUNTIME_DIR", &self.runtime_dir)
            .env("DBUS_SESSION_BUS_ADDRESS", self.bus())
            .output()
            .unwrap()
    }

    /// A unit property (`systemctl show -p NAME --value`).
    pub fn property(&self, unit: &str, name: &str) -> String {
        let out = self.systemctl(&["show", unit, "-p", name, "--value"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for PrivateSystemd {
    fn drop(&mut self) {
        // SIGTERM to the recorded PID only; it stops all its units.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let start = Instant::now();
        while super::alive(self.pid) && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        remove_cgroup_tree(&self.cgroup);
    }
}

//! systemd's notification protocol (`sd_notify`): a datagram to `$NOTIFY_SOCKET` (a path, or an
//! abstract name written with a leading `@`). Without the variable (not under systemd, or a unit
//! not of `Type=notify`), nothing is sent.

use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where systemd listens, when it does: read once per call (cheap: an environment lookup).
fn socket_addr() -> Option<std::io::Result<SocketAddr>> {
    let path = std::env::var_os("NOTIFY_SOCKET")?;
    let bytes = path.as_encoded_bytes();
    Some(match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt as _;
            SocketAddr::from_abstract_name(name)
        }
        None => SocketAddr::from_pathname(std::path::Path::new(&path)),
    })
}

/// A notifier bound to `$NOTIFY_SOCKET`; `None` when the process runs without one.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The process's notifier (`Ok(None)`: no `$NOTIFY_SOCKET`).
    pub fn from_env() -> std::io::Result<Option<Self>> {
        let Some(addr) = socket_addr() else {
            return Ok(None);
        };
        Ok(Some(Self {
            socket: UnixDatagram::unbound()?,
            addr: addr?,
        }))
    }

    /// Sends `state` (`READY=1`, `WATCHDOG=1`, `STATUS=…`, newline-separated assignments).
    pub fn notify(&self, state: &str) -> std::io::Result<()> {
        self.socket
            .send_to_addr(state.as_bytes(), &self.addr)
            .map(|_| ())
    }
}

/// The watchdog interval systemd asks for (`$WATCHDOG_USEC`, for this process when
/// `$WATCHDOG_PID` names it or is unset); `None` without a watchdog.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| std::time::Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_reaches_a_listening_socket() {
        let dir = std::env::temp_dir().join(format!("sf-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            addr: SocketAddr::from_pathname(&path).unwrap(),
        };
        notifier.notify("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Files only their owner may read (umask 077, 0600 from creation, never written through a
//! link), and the bots' control secrets kept in them.

/// Files this process creates from now on are its user's alone (umask 077): logs, state,
/// journals, databases and secrets are never group- or world-readable.
pub fn private_files() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// The name of the file a bot writes its own control secret to, in its state directory.
pub const CONTROL_SECRET_FILE: &str = "control.secret";
/// Shortest control secret accepted from a file.
pub const CONTROL_SECRET_MIN: usize = 16;

/// A control secret file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Opening or reading it failed (a symlink is refused here too).
    #[error("control secret {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Too short, or holds spaces or control characters.
    #[error(
        "control secret {path}: must be at least {CONTROL_SECRET_MIN} printable characters without spaces"
    )]
    Weak {
        /// The file.
        path: String,
    },
}

/// Reads a control secret from `path` (trimmed; at most 4 KiB, at least
/// [`CONTROL_SECRET_MIN`] characters, no symlink followed).
pub fn read_control_secret(path: &std::path::Path) -> Result<String, SecretError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|source| SecretError::Read {
            path: path.display().to_string(),
            source,
        })?;
    let mut text = String::new();
    file.take(4096)
        .read_to_string(&mut text)
        .map_err(|source| SecretError::Read {
            path: path.display().to_string(),
            source,
        })?;
    let secret = text.trim();
    if secret.len() < CONTROL_SECRET_MIN || secret.chars().any(|c| c.is_control() || c == ' ') {
        return Err(SecretError::Weak {
            path: path.display().to_string(),
        });
    }
    Ok(secret.to_string())
}

/// Opens a regular file for reading without following a symlink at its last component or
/// blocking on a FIFO (bots own the directories such files are in); anything else is an error.
pub fn open_regular(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: not a regular file", path.display()),
        ));
    }
    Ok(file)
}

/// The first `max` bytes of the file at `path` as text, never through a symlink.
pub fn read_small(path: &std::path::Path, max: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let mut text = String::new();
    file.take(max).read_to_string(&mut text)?;
    Ok(text)
}

/// A new random secret (32 bytes from the kernel, hex).
pub fn new_control_secret() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `secret` to `path` as a new file only its owner can read: whatever was there (a
/// file, or a symlink planted to redirect the write) is removed first, and the file is created
/// exclusively with mode 0600.
pub fn write_control_secret(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    write_control_secret_for(path, secret, None)
}

/// [`write_control_secret`], the file given to `owner` (uid, gid) through its open descriptor.
pub fn write_control_secret_for(
    path: &std::path::Path,
    secret: &str,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = create_private(path)?;
    f.write_all(secret.as_bytes())?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
    }
    f.sync_all()
}

/// A new file at `path` only its owner can read (0600 from its creation): whatever was there
/// (a file, or a symlink planted to redirect the write) is removed first and the file is
/// created exclusively, so nothing is ever written through a link.
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

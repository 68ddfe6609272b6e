//! The agent's files: what it writes (atomically, 0600, given to a bot's account through the
//! open descriptor) and what it reads of files a bot can write (never through a symlink, never
//! blocking on a FIFO, bounded), including the tail of each bot's log.

use std::io::{Read, Seek, Write as _};
use std::path::{Path, PathBuf};

pub(crate) use sniperforge_protocol::fleet::{LOG_LINE_MAX, LOG_LINES_PER_REPORT};
pub(crate) const LOG_READ_MAX: u64 = 256 * 1024;
/// New lines of a log file since the last read.
#[derive(Debug)]
pub(crate) struct LogTail {
    path: PathBuf,
    offset: u64,
}

impl LogTail {
    /// Starts at the file's current end (lines written before are not sent again).
    pub(crate) fn at_end(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: std::fs::metadata(path).map_or(0, |m| m.len()),
        }
    }

    pub(crate) fn read(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        // The bot owns its directory: a symlink it planted in place of its log is not followed
        // (the agent may run as root; the target would go to the gateway line by line).
        let Ok(mut f) = crate::backend::open_regular(&self.path) else {
            return lines;
        };
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            return lines;
        }
        let len = f.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            self.offset = 0; // truncated or replaced
        }
        if f.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
            return lines;
        }
        let mut buf = Vec::new();
        if f.take(LOG_READ_MAX).read_to_end(&mut buf).is_err() {
            return lines;
        }
        let mut consumed = 0;
        while lines.len() < LOG_LINES_PER_REPORT {
            let Some(nl) = buf[consumed..].iter().position(|b| *b == b'\n') else {
                break;
            };
            lines.push(clip(&buf[consumed..consumed + nl]));
            consumed += nl + 1;
        }
        if consumed == 0 && buf.len() as u64 == LOG_READ_MAX {
            // One line longer than a whole read: send its start, skip the rest.
            lines.push(clip(&buf));
            consumed = buf.len();
        }
        self.offset += consumed as u64;
        lines
    }
}

fn clip(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches('\r');
    if text.len() <= LOG_LINE_MAX {
        return text.to_string();
    }
    let mut end = LOG_LINE_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Writes `bytes` to `path` through a temporary file, an fsync and a rename (never half a
/// file, and the rename is synced too); the file is created 0600 (records hold the bots'
/// control secrets, configurations their limits).
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    owner: Option<&crate::backend::BotUser>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    // A leftover (or a planted symlink) is replaced, never written through.
    let mut f = sniperforge_host::files::create_private(&tmp)?;
    f.write_all(bytes)?;
    if let Some(user) = owner {
        // On the open file, not by name: nothing swapped in meanwhile is given away.
        std::os::unix::fs::fchown(&f, Some(user.uid), Some(user.gid))?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// A bot's configuration file as the agent last wrote it (never through a symlink, at most
/// 4 MiB).
pub(crate) fn read_config_file(path: &Path) -> Option<String> {
    read_small_file(path, 4 << 20)
}

/// A regular file's text, at most `max` bytes, opened without following a symlink or
/// blocking on a FIFO.
pub(crate) fn read_small_file(path: &Path, max: u64) -> Option<String> {
    let mut text = String::new();
    crate::backend::open_regular(path)
        .ok()?
        .take(max)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// Most fills one report carries for all of a node's bots, and most bytes of journal lines
/// they may take (well within a report's body, whatever the fills hold; the rest go in the
/// next report).
pub(crate) const FILLS_PER_NODE_REPORT: usize = 8_000;
pub(crate) const FILL_BYTES_PER_NODE_REPORT: usize = 1024 * 1024;

/// The fills a bot journaled (`fills.jsonl` in its state directory) that the gateway has not
/// taken yet: read from a cursor that moves on only once a report carrying them got through,
/// kept on disk (`<data_dir>/agent/fills/<bot_id>`: the offset, and the journal's inode, so a
/// journal replaced by another file is read from its start) so an agent restarted later sends
/// from there. A cursor written late (a crash between the answer and the write) sends some
/// fills again, which the gateway stores once by their sequence number.
#[derive(Debug)]
pub(crate) struct FillsTail {
    journal: PathBuf,
    cursor: PathBuf,
    offset: u64,
    inode: u64,
    /// The offset past the fills read for the report under way, the journal's inode, and
    /// whether that read reached the last whole line it could see.
    read_to: Option<(u64, u64, bool)>,
}

impl FillsTail {
    /// For the journal `journal`, its cursor kept at `cursor` (from its start when none).
    pub(crate) fn open(journal: &Path, cursor: &Path) -> Self {
        let text = std::fs::read_to_string(cursor).unwrap_or_default();
        let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().ok());
        let offset = parts.next().flatten().unwrap_or(0);
        let inode = parts.next().flatten().unwrap_or(0);
        Self {
            journal: journal.to_path_buf(),
            cursor: cursor.to_path_buf(),
            offset,
            inode,
            read_to: None,
        }
    }

    /// Whether the cursor is behind the journal's end (fills may wait to be sent).
    pub(crate) fn behind(&self) -> bool {
        use std::os::unix::fs::MetadataExt as _;
        crate::backend::open_regular(&self.journal)
            .and_then(|f| f.metadata())
            .is_ok_and(|m| m.is_file() && (m.ino() != self.inode || m.len() > self.offset))
    }

    /// Forgets what the last [`FillsTail::read`] read (its report did not get through, or
    /// never went): the next read starts from the cursor again.
    pub(crate) fn reset(&mut self) {
        self.read_to = None;
    }

    /// Up to `max` fills and `max_bytes` bytes of lines from the cursor, whole lines only;
    /// lines from before fills were numbered, and lines that do not parse or hold what a fill
    /// may not, are passed over. The fills and the bytes their lines took.
    pub(crate) fn read(
        &mut self,
        max: usize,
        max_bytes: usize,
    ) -> (Vec<sniperforge_protocol::fleet::TradeFill>, usize) {
        use std::os::unix::fs::MetadataExt as _;
        self.read_to = None;
        let mut fills = Vec::new();
        if max == 0 || max_bytes == 0 {
            return (fills, 0);
        }
        // Never through a symlink the bot planted; never blocking on a FIFO.
        let Ok(mut f) = crate::backend::open_regular(&self.journal) else {
            return (fills, 0);
        };
        let (len, inode) = match f.metadata() {
            Ok(m) if m.is_file() => (m.len(), m.ino()),
            _ => return (fills, 0),
        };
        // Another file than the cursor's, or one cut short: from its start (the gateway
        // keeps each fill once).
        let mut from = self.offset;
        if inode != self.inode || len < from {
            from = 0;
        }
        if f.seek(std::io::SeekFrom::Start(from)).is_err() {
            return (fills, 0);
        }
        let mut buf = Vec::new();
        if f.take(LOG_READ_MAX).read_to_end(&mut buf).is_err() {
            return (fills, 0);
        }
        // `consumed` moves the cursor; `taken` (≤ `max_bytes`) is what counts against the
        // report's budget.
        let (mut consumed, mut taken) = (0, 0);
        let mut at_end = false;
        while fills.len() < max {
            let Some(nl) = buf[consumed..].iter().position(|b| *b == b'\n') else {
                at_end = true;
                break;
            };
            if taken + nl + 1 > max_bytes {
                break;
            }
            let line = &buf[consumed..consumed + nl];
            consumed += nl + 1;
            taken += nl + 1;
            if let Ok(fill) = serde_json::from_slice::<sniperforge_protocol::fleet::TradeFill>(line)
                && fill.check().is_ok()
            {
                fills.push(fill);
            }
        }
        if at_end && consumed == 0 && buf.len() as u64 == LOG_READ_MAX {
            // One line longer than a whole read is no fill: passed over (nothing sent).
            consumed = buf.len();
            at_end = false;
        }
        self.read_to = Some((from + consumed as u64, inode, at_end));
        (fills, taken)
    }

    /// The report carrying what [`FillsTail::read`] read got through: the cursor moves past
    /// it, on disk too. Whether the journal may hold more (`false`: the last read found
    /// nothing new).
    pub(crate) fn commit(&mut self) -> bool {
        let Some((to, inode, at_end)) = self.read_to.take() else {
            return true;
        };
        if to == self.offset && inode == self.inode {
            // Nothing new, or nothing read this time (the report's budget was spent).
            return !at_end;
        }
        (self.offset, self.inode) = (to, inode);
        if let Some(dir) = self.cursor.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
                .and_then(|()| write_atomic(&self.cursor, format!("{to} {inode}").as_bytes(), None))
        {
            tracing::warn!(path = %self.cursor.display(), error = %e, "fills cursor not kept: an agent restart sends some fills again");
        }
        true
    }
}

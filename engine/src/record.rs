//! Recordings of account updates: a documented, versioned binary format, a writer, a reader,
//! and a market rebuilt from a recording's snapshot section. Replaying a recording through the
//! strategy gives the same decisions every time.
//!
//! Format, all integers little-endian:
//!
//! ```text
//! header   magic "SFREC\0" (6 bytes) | version u16 = 1 | reserved u16 = 0
//!          | snapshot_records u64 (how many leading records are the initial snapshot)
//! record   length u32 (bytes after this field) | received_ns u64 (since recording start)
//!          | slot u64 | write_version u64 | pubkey [32] | owner [32] | data_len u32 | data
//! ```

use std::io::{self, Read, Write};

use crate::market::{AccountUpdate, Market, Pool};
use crate::pubkey::Pubkey;

/// File magic.
pub const MAGIC: &[u8; 6] = b"SFREC\0";
/// Format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Largest record accepted (the largest Solana account is 10 MiB).
pub const MAX_RECORD: u32 = 10 * 1024 * 1024 + 128;
const FIXED: usize = 8 + 8 + 8 + 32 + 32 + 4;

/// A recording that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// I/O failure.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// Not a recording.
    #[error("not a SniperForge recording (magic {0:?})")]
    Magic([u8; 6]),
    /// Too short to hold a header.
    #[error("not a SniperForge recording: shorter than the 18-byte header")]
    Short,
    /// A version this build does not read.
    #[error("recording version {0}, this build reads version {VERSION}")]
    Version(u16),
    /// A record's length is impossible.
    #[error("record {index} at byte {offset}: length {length} {problem}")]
    Length {
        /// Record number.
        index: u64,
        /// Byte offset of the record.
        offset: u64,
        /// Declared length.
        length: u32,
        /// What is wrong.
        problem: &'static str,
    },
    /// The file ends inside a record.
    #[error("record {index} at byte {offset}: truncated")]
    Truncated {
        /// Record number.
        index: u64,
        /// Byte offset of the record.
        offset: u64,
    },
}

/// Writes a recording.
#[derive(Debug)]
pub struct Recorder<W: Write> {
    out: W,
    start_ns: u64,
}

impl<W: Write> Recorder<W> {
    /// Writes the header; `snapshot_records` leading records will be the snapshot.
    pub fn new(mut out: W, snapshot_records: u64, start_ns: u64) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&snapshot_records.to_le_bytes())?;
        Ok(Self { out, start_ns })
    }

    /// Appends one update (its `received_at` relative to the recording's start).
    pub fn write(&mut self, u: &AccountUpdate) -> io::Result<()> {
        let len = u32::try_from(FIXED + u.data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "account data too large"))?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out
            .write_all(&u.received_at.saturating_sub(self.start_ns).to_le_bytes())?;
        self.out.write_all(&u.slot.to_le_bytes())?;
        self.out.write_all(&u.write_version.to_le_bytes())?;
        self.out.write_all(&u.pubkey.0)?;
        self.out.write_all(&u.owner.0)?;
        self.out.write_all(&(u.data.len() as u32).to_le_bytes())?;
        self.out.write_all(&u.data)
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads a recording record by record.
#[derive(Debug)]
pub struct Reader<R: Read> {
    input: R,
    /// Leading records that are the initial snapshot.
    pub snapshot_records: u64,
    index: u64,
    offset: u64,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header.
    pub fn new(mut input: R) -> Result<Self, RecordError> {
        let mut header = [0u8; 18];
        input.read_exact(&mut header).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => RecordError::Short,
            _ => RecordError::Io(e),
        })?;
        let magic: [u8; 6] = header[..6].try_into().unwrap_or_default();
        if &magic != MAGIC {
            return Err(RecordError::Magic(magic));
        }
        let version = u16::from_le_bytes([header[6], header[7]]);
        if version != VERSION {
            return Err(RecordError::Version(version));
        }
        let snapshot_records = u64::from_le_bytes(header[10..18].try_into().unwrap_or_default());
        Ok(Self {
            input,
            snapshot_records,
            index: 0,
            offset: 18,
        })
    }

    /// The next record, `None` at a clean end of file.
    pub fn next_update(&mut self) -> Result<Option<AccountUpdate>, RecordError> {
        let (index, offset) = (self.index, self.offset);
        let mut len_bytes = [0u8; 4];
        match self.input.read(&mut len_bytes[..1])? {
            0 => return Ok(None),
            _ => self
                .input
                .read_exact(&mut len_bytes[1..])
                .map_err(|_| RecordError::Truncated { index, offset })?,
        }
        let length = u32::from_le_bytes(len_bytes);
        if (length as usize) < FIXED {
            return Err(RecordError::Length {
                index,
                offset,
                length,
                problem: "is shorter than a record's fixed part",
            });
        }
        if length > MAX_RECORD {
            return Err(RecordError::Length {
                index,
                offset,
                length,
                problem: "exceeds the largest account",
            });
        }
        let mut body = vec![0u8; length as usize];
        self.input
            .read_exact(&mut body)
            .map_err(|_| RecordError::Truncated { index, offset })?;
        let u64_at =
            |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap_or_default());
        let data_len = u32::from_le_bytes(body[88..92].try_into().unwrap_or_default()) as usize;
        if data_len != body.len() - FIXED {
            return Err(RecordError::Length {
                index,
                offset,
                length,
                problem: "disagrees with its data length",
            });
        }
        let update = AccountUpdate {
            received_at: u64_at(0),
            slot: u64_at(8),
            write_version: u64_at(16),
            pubkey: Pubkey(body[24..56].try_into().unwrap_or_default()),
            owner: Pubkey(body[56..88].try_into().unwrap_or_default()),
            data: body[FIXED..].to_vec(),
        };
        self.index += 1;
        self.offset += 4 + u64::from(length);
        Ok(Some(update))
    }

    /// Every remaining record.
    pub fn read_all(mut self) -> Result<Vec<AccountUpdate>, RecordError> {
        let mut all = Vec::new();
        while let Some(u) = self.next_update()? {
            all.push(u);
        }
        Ok(all)
    }
}

/// A market of every pool found in `snapshot` (pool accounts recognised by owner and layout),
/// with all snapshot accounts applied. Accounts that fit no pool are skipped.
pub fn market_from_snapshot(snapshot: &[AccountUpdate]) -> Market {
    market_from_snapshot_where(snapshot, |_| true)
}

/// [`market_from_snapshot`] with only the pools `keep` accepts.
pub fn market_from_snapshot_where(
    snapshot: &[AccountUpdate],
    keep: impl Fn(&Pool) -> bool,
) -> Market {
    let mut market = Market::new();
    for pool in snapshot.iter().filter_map(Pool::from_update) {
        if keep(&pool) {
            market.add_pool(pool);
        }
    }
    let mut changed = Vec::new();
    for u in snapshot {
        let _ = market.apply_update(u, &mut changed);
    }
    market
}

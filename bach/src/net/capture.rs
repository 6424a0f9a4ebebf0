//! Capture files: where a simulation's pcapng goes, and what each record
//! says about its packet's fate.
//!
//! Capture is off unless `BACH_PCAP_DIR` is set (read when the
//! [`Simulation`](crate::Simulation) is created) or
//! [`Simulation::pcap_dir`](crate::Simulation::pcap_dir) names a directory.
//! The file is created when the first packet is recorded, named after the
//! running program and test and the seed:
//! `<dir>/<binary>__<test>.seed<N>.pcapng` (the binary's name without
//! cargo's hash, the test's `::` as `__`; no test part outside a test
//! thread; `custom` instead of `seed<N>` with a custom choice source). A
//! second simulation with the same name in the same process gets `.1`, then
//! `.2`, in creation order. Writes go through a large buffer, flushed when a
//! run returns and when the simulation is dropped.
//!
//! Each record carries a comment unless its packet had a plain fate:
//! `dropped: <reason>`, `duplicated` (egress of a packet the link doubled),
//! `duplicate` (ingress of the extra copy), `corrupted`, `copy made by a
//! monitor`, `delayed <d> by a monitor`. The record format itself lives in
//! [`bach_net::pcap`].

use bach_net::{CaptureWriter, CapturedPacket, Direction, DropReason, NodeId, NodeTable};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs::File,
    io::BufWriter,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

/// Capture buffer size: large enough that writes are rare syscalls.
const BUFFER_BYTES: usize = 1 << 20;

/// The environment variable that turns capture on for every simulation.
pub(crate) const ENV_DIR: &str = "BACH_PCAP_DIR";

/// How often each capture path was handed out in this process.
static USED_NAMES: Mutex<BTreeMap<PathBuf, u32>> = Mutex::new(BTreeMap::new());

/// The fate of a packet as its capture record describes it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Note {
    pub(crate) dropped: Option<DropReason>,
    /// Egress: the link duplicated it; ingress: this copy is the extra one.
    pub(crate) duplicated: bool,
    pub(crate) corrupted: bool,
    pub(crate) monitor_copy: bool,
    /// Extra delay a monitor added, in nanoseconds.
    pub(crate) delayed: u64,
}

/// One record to write.
pub(crate) struct Record<'a> {
    pub(crate) node: NodeId,
    pub(crate) at: u64,
    pub(crate) direction: Direction,
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) id: u64,
    pub(crate) payload: &'a [u8],
    pub(crate) note: Note,
}

/// A simulation's capture: configuration, then the open file.
pub(crate) struct Capture {
    dir: Option<PathBuf>,
    seed: Option<u64>,
    file: Option<CaptureWriter<BufWriter<File>>>,
    path: Option<PathBuf>,
    comment: String,
}

impl Capture {
    /// Capture configured from `BACH_PCAP_DIR`.
    pub(crate) fn from_env(seed: u64) -> Self {
        let dir = std::env::var_os(ENV_DIR)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from);
        Self {
            dir,
            seed: Some(seed),
            file: None,
            path: None,
            comment: String::new(),
        }
    }

    /// Whether packets are being captured.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.dir.is_some()
    }

    /// Writes captures to `dir` from now on (`None`: stop capturing). A file
    /// already open keeps receiving records.
    pub(crate) fn set_dir(&mut self, dir: Option<PathBuf>) {
        if dir.is_none() {
            self.close();
        }
        self.dir = dir;
    }

    /// The seed that names the file (`None`: a custom choice source).
    pub(crate) fn set_seed(&mut self, seed: Option<u64>) {
        self.seed = seed;
    }

    /// The capture file, once the first packet created it.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes one record, creating the file first if needed. Panics with
    /// the path if the file cannot be created or written.
    pub(crate) fn record(&mut self, nodes: &NodeTable, record: &Record<'_>) {
        if self.file.is_none() {
            self.open();
        }
        let comment = format_note(&mut self.comment, record.note, record.direction);
        let packet = CapturedPacket {
            node: record.node,
            at: Duration::from_nanos(record.at),
            direction: record.direction,
            src: record.src,
            dst: record.dst,
            packet_id: record.id,
            payload: record.payload,
            comment,
        };
        let file = self.file.as_mut().expect("opened above");
        if let Err(error) = file.write_packet(nodes, &packet) {
            let path = self.path.as_deref().unwrap_or(Path::new("?"));
            panic!(
                "writing the packet capture {} failed: {error}",
                path.display()
            );
        }
    }

    /// Flushes buffered records to the file.
    pub(crate) fn flush(&mut self) {
        if let Some(file) = self.file.as_mut() {
            if let Err(error) = file.flush() {
                let path = self.path.as_deref().unwrap_or(Path::new("?"));
                eprintln!(
                    "bach: flushing the packet capture {} failed: {error}",
                    path.display()
                );
            }
        }
    }

    /// Flushes and closes the file; a later record opens a new one.
    pub(crate) fn close(&mut self) {
        self.flush();
        self.file = None;
    }

    fn open(&mut self) {
        let dir = self.dir.clone().expect("capture is on");
        let path = unique_path(&dir, &base_name(self.seed));
        let file = std::fs::create_dir_all(&dir)
            .and_then(|()| File::create(&path))
            .and_then(|file| CaptureWriter::new(BufWriter::with_capacity(BUFFER_BYTES, file)));
        match file {
            Ok(file) => self.file = Some(file),
            Err(error) => panic!(
                "cannot create the packet capture {} ({ENV_DIR} or Simulation::pcap_dir): {error}",
                path.display()
            ),
        }
        self.path = Some(path);
    }
}

/// The comment for a record, composed in `out`, a reused buffer.
fn format_note(out: &mut String, note: Note, direction: Direction) -> Option<&str> {
    if let Some(reason) = note.dropped {
        return Some(reason.capture_comment());
    }
    out.clear();
    let mut part = |text: std::fmt::Arguments<'_>| {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = out.write_fmt(text);
    };
    if note.duplicated {
        match direction {
            Direction::Egress => part(format_args!("duplicated")),
            Direction::Ingress => part(format_args!("duplicate")),
        }
    }
    if note.corrupted {
        part(format_args!("corrupted"));
    }
    if note.monitor_copy {
        part(format_args!("copy made by a monitor"));
    }
    if note.delayed > 0 {
        part(format_args!(
            "delayed {:?} by a monitor",
            Duration::from_nanos(note.delayed)
        ));
    }
    (!out.is_empty()).then_some(out.as_str())
}

/// `<binary>__<test>.seed<N>` (see the module docs).
fn base_name(seed: Option<u64>) -> String {
    let exe = std::env::current_exe().ok();
    let binary = exe
        .as_deref()
        .and_then(Path::file_stem)
        .and_then(|stem| stem.to_str())
        .map(strip_cargo_hash)
        .unwrap_or("bach");
    let mut name = sanitize(binary);
    if let Some(test) = std::thread::current().name().filter(|n| *n != "main") {
        name.push_str("__");
        name.push_str(&sanitize(&test.replace("::", "__")));
    }
    match seed {
        Some(seed) => {
            let _ = write!(name, ".seed{seed}");
        }
        None => name.push_str(".custom"),
    }
    name
}

/// `net_udp-0123456789abcdef` → `net_udp`.
fn strip_cargo_hash(stem: &str) -> &str {
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name
        }
        _ => stem,
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `dir/base.pcapng`, or `dir/base.<n>.pcapng` for the n-th reuse.
fn unique_path(dir: &Path, base: &str) -> PathBuf {
    let key = dir.join(base);
    let mut used = USED_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let count = used.entry(key).or_insert(0);
    let name = match *count {
        0 => format!("{base}.pcapng"),
        n => format!("{base}.{n}.pcapng"),
    };
    *count += 1;
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_strip_cargo_hashes_and_sanitize() {
        assert_eq!(strip_cargo_hash("net_udp-0123456789abcdef"), "net_udp");
        assert_eq!(strip_cargo_hash("ping_pong"), "ping_pong");
        assert_eq!(strip_cargo_hash("a-b"), "a-b");
        assert_eq!(sanitize("tests__a b/c"), "tests__a_b_c");
        let base = base_name(Some(7));
        assert!(
            base.ends_with("__net__capture__tests__names_strip_cargo_hashes_and_sanitize.seed7"),
            "{base}"
        );
        assert!(base_name(None).ends_with(".custom"));
    }

    #[test]
    fn repeated_names_get_counters() {
        let dir = Path::new("/nonexistent/bach-unique-path-test");
        assert_eq!(unique_path(dir, "x"), dir.join("x.pcapng"));
        assert_eq!(unique_path(dir, "x"), dir.join("x.1.pcapng"));
        assert_eq!(unique_path(dir, "y"), dir.join("y.pcapng"));
        assert_eq!(unique_path(dir, "x"), dir.join("x.2.pcapng"));
    }

    #[test]
    fn comments_describe_fates() {
        let mut buffer = String::new();
        let note = Note {
            duplicated: true,
            corrupted: true,
            delayed: 5_000_000,
            ..Note::default()
        };
        assert_eq!(
            format_note(&mut buffer, note, Direction::Egress),
            Some("duplicated, corrupted, delayed 5ms by a monitor")
        );
        assert_eq!(
            format_note(&mut buffer, note, Direction::Ingress),
            Some("duplicate, corrupted, delayed 5ms by a monitor")
        );
        assert_eq!(
            format_note(&mut buffer, Note::default(), Direction::Ingress),
            None
        );
        let dropped = Note {
            dropped: Some(DropReason::NoSocket),
            ..note
        };
        assert_eq!(
            format_note(&mut buffer, dropped, Direction::Ingress),
            Some("dropped: no-socket")
        );
    }
}

//! The disk from a process's handlers: [`Context::disk`] gives calls that
//! complete inside the handler, as AnySystem-style processes need (a
//! handler cannot await). They act on the process's node's disk, with the
//! same durability rules, the same injected I/O errors and the same trace
//! lines as the async API; they take no simulated time, never hang and
//! are no crash points (a search crashes a process's node between
//! handlers: the model checker's `max_crashes`).

use super::{apply_now, decide, DirEntry, Metadata, Op};
use crate::{group::table::GroupId, process::Context, runtime::context};
use std::{io, marker::PhantomData};

impl Context {
    /// This process's node's disk, for calls that complete in the handler
    /// (see [`HandlerDisk`]).
    pub fn disk(&mut self) -> HandlerDisk<'_> {
        HandlerDisk {
            group: self.group,
            _handler: PhantomData,
        }
    }
}

/// A process's node's disk inside a handler ([`Context::disk`]): the
/// `std::fs`-shaped calls of [`crate::fs`], synchronous.
#[derive(Debug)]
pub struct HandlerDisk<'a> {
    group: GroupId,
    _handler: PhantomData<&'a mut Context>,
}

impl HandlerDisk<'_> {
    fn run<T, P: std::fmt::Display + ?Sized>(
        &self,
        what: &'static str,
        op: Op,
        bytes: usize,
        path: &P,
        apply: impl FnOnce(&mut super::disk::Disk) -> io::Result<T>,
    ) -> io::Result<T> {
        let group = self.group;
        context::with(what, |inner| {
            let fate = decide(inner, group, op, bytes);
            apply_now(inner, group, what, op, bytes, path, fate.inject, apply)
        })
    }

    /// Opens `path` with `options`, runs `f` on the handle, closes it.
    fn with_file<T>(
        &self,
        what: &'static str,
        op: Op,
        bytes: usize,
        path: &str,
        options: super::disk::OpenOptions,
        f: impl FnOnce(&mut super::disk::Disk, super::disk::Handle) -> io::Result<T>,
    ) -> io::Result<T> {
        self.run(what, op, bytes, path, |disk| {
            let handle = disk.open(path, options)?;
            let result = f(disk, handle);
            disk.close(handle)?;
            result
        })
    }

    /// The whole contents of the file at `path`.
    pub fn read(&mut self, path: &str) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.metadata(path)?.len()).unwrap_or(usize::MAX);
        self.with_file(
            "read",
            Op::Read,
            len,
            path,
            super::disk::OpenOptions::read(),
            |disk, handle| {
                let mut bytes = Vec::new();
                super::read_rest(disk, handle, &mut bytes, len)?;
                Ok(bytes)
            },
        )
    }

    /// The whole contents of the file at `path`, as UTF-8 (`InvalidData`
    /// otherwise).
    pub fn read_to_string(&mut self, path: &str) -> io::Result<String> {
        String::from_utf8(self.read(path)?).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("`{path}` is not valid UTF-8"),
            )
        })
    }

    /// Creates (or empties) the file at `path` and writes `contents` (not
    /// durable until synced).
    pub fn write(&mut self, path: &str, contents: &[u8]) -> io::Result<()> {
        self.with_file(
            "write",
            Op::Write,
            contents.len(),
            path,
            super::disk::OpenOptions::create(),
            |disk, handle| write_all(disk, handle, contents),
        )
    }

    /// Appends `contents` to the file at `path`, creating it if missing
    /// (not durable until synced).
    pub fn append(&mut self, path: &str, contents: &[u8]) -> io::Result<()> {
        let options = super::disk::OpenOptions {
            append: true,
            create: true,
            ..Default::default()
        };
        self.with_file(
            "append",
            Op::Write,
            contents.len(),
            path,
            options,
            |disk, handle| write_all(disk, handle, contents),
        )
    }

    /// Makes the bytes and length of the file at `path` durable
    /// (`fdatasync`); on a directory, its entries.
    pub fn sync_data(&mut self, path: &str) -> io::Result<()> {
        self.with_file(
            "sync_data",
            Op::Sync,
            0,
            path,
            super::disk::OpenOptions::read(),
            |disk, handle| disk.sync_data(handle),
        )
    }

    /// Makes the directory `path`'s entries durable: the names created,
    /// renamed and removed in it.
    pub fn sync_dir(&mut self, path: &str) -> io::Result<()> {
        self.with_file(
            "sync_dir",
            Op::Sync,
            0,
            path,
            super::disk::OpenOptions::read(),
            |disk, handle| disk.sync_all(handle),
        )
    }

    /// Renames `from` to `to`, replacing a file at `to`.
    pub fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        let label = super::Renamed(from, to);
        self.run("rename", Op::Change, 0, &label, |disk| {
            disk.rename(from, to)
        })
    }

    /// Removes the file at `path`.
    pub fn remove_file(&mut self, path: &str) -> io::Result<()> {
        self.run("remove_file", Op::Change, 0, path, |disk| {
            disk.remove_file(path)
        })
    }

    /// Creates the directory `path` and every missing parent.
    pub fn create_dir_all(&mut self, path: &str) -> io::Result<()> {
        self.run("create_dir_all", Op::Change, 0, path, |disk| {
            disk.create_dir_all(path)
        })
    }

    /// Removes the empty directory `path`.
    pub fn remove_dir(&mut self, path: &str) -> io::Result<()> {
        self.run("remove_dir", Op::Change, 0, path, |disk| {
            disk.remove_dir(path)
        })
    }

    /// The entries of the directory `path`, in name order.
    pub fn read_dir(&mut self, path: &str) -> io::Result<Vec<DirEntry>> {
        let entries = self.run("read_dir", Op::Look, 0, path, |disk| disk.read_dir(path))?;
        Ok(super::entries(path, entries))
    }

    /// Metadata of the file or directory at `path`.
    pub fn metadata(&mut self, path: &str) -> io::Result<Metadata> {
        self.run("metadata", Op::Look, 0, path, |disk| {
            disk.metadata(path).map(Metadata::from_disk)
        })
    }

    /// Whether something exists at `path`.
    pub fn exists(&mut self, path: &str) -> bool {
        self.metadata(path).is_ok()
    }
}

fn write_all(
    disk: &mut super::disk::Disk,
    handle: super::disk::Handle,
    mut contents: &[u8],
) -> io::Result<()> {
    while !contents.is_empty() {
        let written = disk.write(handle, contents)?;
        contents = &contents[written..];
    }
    Ok(())
}

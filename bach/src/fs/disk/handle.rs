//! Open files: handles and their cursors, reads and writes through the
//! page cache, syncs, bit rot, and the space writes take.

use super::{
    already_exists, file::FileData, invalid, is_a_directory, not_found, path, too_large, usage,
    Disk, Handle, Ino, Kind, Metadata, OpenFile, OpenOptions, UnsyncedWrites, ROOT,
};
use std::io::{self, ErrorKind, SeekFrom};

impl Disk {
    /// Opens `path` as `options` say; a directory opens read-only (for
    /// `sync_all`). Fails with `InvalidInput` for options `std` refuses,
    /// `NotFound` (a missing file without `create`, or a missing parent),
    /// `AlreadyExists` (`create_new`), `IsADirectory` (a directory for
    /// writing), and as [`lookup`](Self::lookup).
    pub(crate) fn open(&mut self, path: &str, options: OpenOptions) -> io::Result<Handle> {
        options.check(path)?;
        let parts = path::components(path)?;
        let (ino, created) = if parts.is_empty() {
            (ROOT, false)
        } else {
            let (parent, name, existing) = self.locate(path, &parts)?;
            match existing {
                Some(ino) => (ino, false),
                None if options.create || options.create_new => {
                    let file = Kind::File(FileData::default());
                    (self.link_new(parent, name, file), true)
                }
                None => return Err(not_found(path)),
            }
        };
        if options.create_new && !created {
            return Err(already_exists(path));
        }
        let writes = options.write || options.append;
        match &mut self.inode_mut(ino).kind {
            Kind::Dir(_) if writes => return Err(is_a_directory(path)),
            Kind::Dir(_) => {}
            Kind::File(file) if options.truncate => {
                let old_len = file.len();
                file.set_len(0);
                self.used -= usage(old_len, self.config.sector_size);
            }
            Kind::File(_) => {}
        }
        let handle = Handle(self.next_handle);
        self.next_handle += 1;
        self.inode_mut(ino).handles += 1;
        self.handles.insert(
            handle,
            OpenFile {
                ino,
                path: path.to_owned(),
                read: options.read,
                write: writes,
                append: options.append,
                cursor: 0,
            },
        );
        Ok(handle)
    }

    /// Closes `handle`; a file with no name left goes with its last
    /// handle. Fails with `InvalidInput` for a handle not open.
    pub(crate) fn close(&mut self, handle: Handle) -> io::Result<()> {
        let open = self
            .handles
            .remove(&handle)
            .ok_or_else(|| bad_handle(handle))?;
        self.inode_mut(open.ino).handles -= 1;
        self.released(open.ino);
        Ok(())
    }

    /// The inode `handle` has open. Fails with `InvalidInput` for a handle
    /// not open.
    #[cfg(test)]
    pub(crate) fn handle_inode(&self, handle: Handle) -> io::Result<Ino> {
        Ok(self.open_file(handle)?.ino)
    }

    /// What `handle` has open (its length is [`Metadata::len`]). Fails with
    /// `InvalidInput` for a handle not open.
    pub(crate) fn handle_metadata(&self, handle: Handle) -> io::Result<Metadata> {
        Ok(self.metadata_of(self.open_file(handle)?.ino))
    }

    /// Reads at `offset` into `buf` without moving the cursor; how many
    /// bytes (0 at or past the end). Fails with `PermissionDenied` for a
    /// handle opened without read access, `IsADirectory` for a directory.
    pub(crate) fn read_at(&self, handle: Handle, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let open = self.open_file(handle)?;
        if !open.read {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!("`{}` was opened without read access", open.path),
            ));
        }
        match &self.inode(open.ino).kind {
            Kind::File(file) => Ok(file.read(offset, buf)),
            Kind::Dir(_) => Err(is_a_directory(&open.path)),
        }
    }

    /// Reads at the cursor and moves it past what was read. Fails as
    /// [`read_at`](Self::read_at).
    pub(crate) fn read(&mut self, handle: Handle, buf: &mut [u8]) -> io::Result<usize> {
        let cursor = self.open_file(handle)?.cursor;
        let n = self.read_at(handle, cursor, buf)?;
        self.open_file_mut(handle).cursor = cursor + n as u64;
        Ok(n)
    }

    /// Writes all of `bytes` at `offset` (at the end, in append mode)
    /// without moving the cursor; unsynced until a sync. A write past the
    /// end zero-fills the gap: files are not sparse, the gap takes memory
    /// and space. Fails with `PermissionDenied` for a read-only handle,
    /// `StorageFull` past the capacity, `FileTooLarge` past what the
    /// platform addresses; nothing is written then.
    #[cfg(test)]
    pub(crate) fn write_at(
        &mut self,
        handle: Handle,
        offset: u64,
        bytes: &[u8],
    ) -> io::Result<usize> {
        let (ino, offset) = self.write_position(handle, Some(offset))?;
        self.write_file(handle, ino, offset, bytes)?;
        Ok(bytes.len())
    }

    /// Writes all of `bytes` at the cursor (at the end, in append mode) and
    /// moves the cursor past them. Fails as [`write_at`](Self::write_at).
    pub(crate) fn write(&mut self, handle: Handle, bytes: &[u8]) -> io::Result<usize> {
        let (ino, offset) = self.write_position(handle, None)?;
        self.write_file(handle, ino, offset, bytes)?;
        self.open_file_mut(handle).cursor = offset + bytes.len() as u64;
        Ok(bytes.len())
    }

    /// Moves the cursor; the new position. Fails with `InvalidInput` for a
    /// position before the start or past `u64::MAX`.
    pub(crate) fn seek(&mut self, handle: Handle, position: SeekFrom) -> io::Result<u64> {
        let open = self.open_file(handle)?;
        let len = self.metadata_of(open.ino).len;
        let target = match position {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => len.checked_add_signed(delta),
            SeekFrom::Current(delta) => open.cursor.checked_add_signed(delta),
        }
        .ok_or_else(|| {
            invalid(format!(
                "seeking `{}` to {position:?} leaves the range of positions",
                open.path
            ))
        })?;
        self.open_file_mut(handle).cursor = target;
        Ok(target)
    }

    /// Cuts or zero-extends the file to `len` bytes; unsynced until a sync.
    /// Fails as [`write_at`](Self::write_at).
    pub(crate) fn set_len(&mut self, handle: Handle, len: u64) -> io::Result<()> {
        let (ino, _) = self.write_position(handle, None)?;
        if len > isize::MAX as u64 {
            return Err(too_large(&self.handles[&handle].path, len));
        }
        let old_len = self.file(ino).len();
        self.charge(handle, old_len, len)?;
        self.file_mut(ino).set_len(len as usize);
        Ok(())
    }

    /// Makes the file's bytes and length durable (`fdatasync`); through a
    /// handle on a directory, its entries (as
    /// [`sync_dir`](Self::sync_dir)). Fails with `InvalidInput` for a
    /// handle not open.
    pub(crate) fn sync_data(&mut self, handle: Handle) -> io::Result<()> {
        let ino = self.open_file(handle)?.ino;
        match &mut self.inode_mut(ino).kind {
            Kind::File(file) => file.sync(),
            Kind::Dir(_) => self.sync_directory(ino),
        }
        Ok(())
    }

    /// `fsync`: [`sync_data`](Self::sync_data) and the metadata, which here
    /// is the length `sync_data` covers already.
    pub(crate) fn sync_all(&mut self, handle: Handle) -> io::Result<()> {
        self.sync_data(handle)
    }

    /// Whether everything reads of the file `handle` has open see is
    /// durable (its name aside). Fails with `InvalidInput` for a handle
    /// not open.
    #[cfg(test)]
    pub(crate) fn is_synced(&self, handle: Handle) -> io::Result<bool> {
        let open = self.open_file(handle)?;
        Ok(match &self.inode(open.ino).kind {
            Kind::File(file) => file.is_synced(),
            Kind::Dir(dir) => dir.entries == dir.durable,
        })
    }

    /// Rots sector `sector` (counted from the file's start) of the file at
    /// `path`: reads of it return other bytes (a fixed bit of each byte
    /// flipped) in the volatile and the durable view alike, until they are
    /// written again (a write of part of the sector mends that part, as a
    /// read-modify-write of the sector would). Rotting it again restores
    /// it. Fails as [`lookup`](Self::lookup), with `IsADirectory`, and with
    /// `InvalidInput` for a sector past the end.
    pub(crate) fn rot(&mut self, path: &str, sector: u64) -> io::Result<()> {
        let ino = self.lookup(path)?;
        self.rot_sector(ino, sector, &format!("`{path}`"))
    }

    /// [`rot`](Self::rot) by inode, for a file that may have no name.
    /// Fails with `NotFound` for an inode not on the disk.
    #[cfg(test)]
    pub(crate) fn rot_inode(&mut self, ino: Ino, sector: u64) -> io::Result<()> {
        if !self.inodes.contains_key(&ino) {
            return Err(io::Error::new(
                ErrorKind::NotFound,
                format!("no {ino} on the disk"),
            ));
        }
        self.rot_sector(ino, sector, &ino.to_string())
    }

    fn rot_sector(&mut self, ino: Ino, sector: u64, name: &str) -> io::Result<()> {
        let sector_size = self.config.sector_size;
        let Kind::File(file) = &mut self.inode_mut(ino).kind else {
            return Err(io::Error::new(
                ErrorKind::IsADirectory,
                format!("is a directory: {name}"),
            ));
        };
        if file.rot(sector, sector_size) {
            Ok(())
        } else {
            Err(invalid(format!(
                "sector {sector} is past the end of {name} ({} bytes, {sector_size}-byte sectors)",
                file.len()
            )))
        }
    }

    pub(super) fn open_file(&self, handle: Handle) -> io::Result<&OpenFile> {
        self.handles.get(&handle).ok_or_else(|| bad_handle(handle))
    }

    pub(super) fn open_file_mut(&mut self, handle: Handle) -> &mut OpenFile {
        self.handles.get_mut(&handle).expect("an open handle")
    }

    /// Where a write through `handle` lands: at `offset`, the cursor when
    /// `None`, or the end in append mode.
    fn write_position(&self, handle: Handle, offset: Option<u64>) -> io::Result<(Ino, u64)> {
        let open = self.open_file(handle)?;
        if !open.write {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!("`{}` was opened read-only", open.path),
            ));
        }
        let Kind::File(file) = &self.inode(open.ino).kind else {
            return Err(is_a_directory(&open.path));
        };
        let offset = if open.append {
            file.len()
        } else {
            offset.unwrap_or(open.cursor)
        };
        Ok((open.ino, offset))
    }

    fn write_file(
        &mut self,
        handle: Handle,
        ino: Ino,
        offset: u64,
        bytes: &[u8],
    ) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let end = offset
            .checked_add(bytes.len() as u64)
            .filter(|&end| end <= isize::MAX as u64) // what a `Vec` can hold
            .ok_or_else(|| {
                too_large(
                    &self.handles[&handle].path,
                    offset.saturating_add(bytes.len() as u64),
                )
            })?;
        let old_len = self.file(ino).len();
        self.charge(handle, old_len, old_len.max(end))?;
        let keep_bytes = self.config.unsynced_writes != UnsyncedWrites::Lost;
        self.file_mut(ino).write(offset as usize, bytes, keep_bytes);
        Ok(())
    }

    /// Accounts a file growing (or shrinking) from `old_len` to `new_len`
    /// bytes; fails with `StorageFull` when growing past the capacity.
    fn charge(&mut self, handle: Handle, old_len: u64, new_len: u64) -> io::Result<()> {
        let sector_size = self.config.sector_size;
        let used = self.used - usage(old_len, sector_size) + usage(new_len, sector_size);
        if let Some(capacity) = self.config.capacity {
            if new_len > old_len && used > capacity {
                return Err(io::Error::new(
                    ErrorKind::StorageFull,
                    format!(
                        "no space left on the disk for `{}` to grow to {new_len} bytes \
                         ({used} of {capacity} bytes would be in use)",
                        self.handles[&handle].path
                    ),
                ));
            }
        }
        self.used = used;
        Ok(())
    }
}

fn bad_handle(handle: Handle) -> io::Error {
    invalid(format!("{handle} is not open (closed, or lost in a crash)"))
}

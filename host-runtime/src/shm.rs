//! [`SharedRegion`]: memory shared between processes, anonymous (inherited by forked children) or
//! named (for processes that are not related), cut into typed views.
//!
//! A region is a `MAP_SHARED` mapping held in an [`Arc`]: clones are cheap and share it, and the
//! last drop in a process unmaps it there. A child forked while a region exists inherits the
//! mapping (and the handles) at the same addresses; its writes are seen by the parent and every
//! other process that maps the region.
//!
//! **Named regions** are POSIX shared memory objects (`shm_open(3)`, on Linux the files of
//! `/dev/shm`). [`SharedRegion::create_named`] creates one with `O_CREAT | O_EXCL` and mode
//! `0600`, so it never reuses an object someone else made and nobody but its owner (and root)
//! may open it. [`SharedRegion::open_named`] checks, before mapping anything, that the object is
//! a regular file owned by our effective user id with no group or other permission bits; its
//! size is what gets mapped, and the user of the region (e.g. [`crate::Queue::open_named`])
//! checks that its own header agrees with that size and validates every queue in it through
//! `ipc_core::ByteQueue::attach_raw`. A named object lives until
//! [`SharedRegion::unlink_named`], even when no process maps it any more.
//!
//! A named region's memory is reserved when it is made (`posix_fallocate`): a `/dev/shm` too
//! small for it gives [`ShmError::OutOfSpace`] at creation, never a `SIGBUS` later. It counts
//! against `/dev/shm` until its name is removed and the last process unmaps it: a program that
//! crashes leaves it there (`ls /dev/shm`), and creating the name again fails with
//! [`ShmError::AlreadyExists`] until someone calls [`SharedRegion::unlink_named`]. A raw
//! region records no users, so only its owner can tell when that is safe; named *queues* do,
//! and can replace a stale one by themselves (`queue::Builder::reclaim_stale`).
//!
//! The owner and mode checks keep other users out; they can't protect against the same user:
//! a process that shrinks the object (`ftruncate`) after we mapped it makes our next access to
//! the lost pages raise `SIGBUS`, and its writes are just bytes that every reader validates.
//!
//! **Typed access** (Python's `SharedMemory` with a `struct` or numpy view over its buffer)
//! goes through the [`SharedBytes`] a claim gives: copies of plain-old-data values
//! (`bytemuck::Pod`: [`get`](SharedBytes::get), [`set`](SharedBytes::set),
//! [`read_into`](SharedBytes::read_into), [`write_from`](SharedBytes::write_from)), atomic views
//! ([`atomics`](SharedBytes::atomics): `&[AtomicU64]`, `&[AtomicI32]`, ...), and, for the
//! numpy-style zero-copy use, the `unsafe` [`as_slice`](SharedBytes::as_slice) and
//! [`as_mut_slice`](SharedBytes::as_mut_slice), whose caller promises that nobody writes (or
//! touches) the bytes while the slice lives. Safe code never gets a `&T` into bytes that
//! another process may write.
//!
//! ```
//! use host_runtime::shm::SharedRegion;
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! let region = SharedRegion::new(4096)?;
//! let bytes = region.claim_bytes(0, 64)?;
//! bytes.write(0, b"shared with children forked from now on");
//! bytes.set(40, 2.5f64);
//! assert_eq!(bytes.get::<f64>(40), 2.5);
//! let counter: &AtomicU64 = &bytes.atomics(48, 1)[0];
//! counter.fetch_add(1, Ordering::Relaxed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// All `unsafe` code lives in `crate::sys` and `crate::shared`.
#![forbid(unsafe_code)]

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use crate::shared::region::{ClaimError, Mapping, Part, SharedBytes, View};
use crate::sys::shm::{
    allocate, flock, geteuid, memfd_sealed, shm_create_exclusive, shm_open_existing, shm_unlink,
    FlockOp,
};

/// Longest name of a named region, without the leading `/` (Linux's `NAME_MAX` less one).
pub const MAX_NAME_LEN: usize = 254;

/// Memory shared between processes; see the [module docs](self).
///
/// # Examples
///
/// ```
/// use host_runtime::shm::SharedRegion;
///
/// let region = SharedRegion::new(1 << 20)?;
/// assert_eq!(region.len(), 1 << 20);
/// assert_eq!(region.name(), None);
/// # Ok::<(), host_runtime::shm::ShmError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SharedRegion {
    mapping: Arc<Mapping>,
    name: Option<Arc<str>>,
    /// The file of a region made by [`SharedRegion::new_memfd`] (or received as one, or kept
    /// with [`SharedRegion::keeping_file`]), to hand to processes that don't inherit the
    /// mapping (spawned pool workers).
    file: Option<Arc<File>>,
}

/// Why a region could not be made, opened or removed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShmError {
    /// The name is empty, too long, or holds `/` (after an optional leading one) or NUL.
    InvalidName(String),
    /// A named region of that name exists already.
    AlreadyExists(String),
    /// No named region has that name.
    NotFound(String),
    /// The named object is not a regular file.
    NotRegularFile(String),
    /// The named region belongs to another user.
    NotOwner {
        /// Owner of the object.
        owner: u32,
        /// Our effective user id.
        expected: u32,
    },
    /// The named region grants access to group or others (mode shown in octal).
    InsecureMode {
        /// Permission bits of the object.
        mode: u32,
    },
    /// The region's size disagrees with what its contents say, or is 0.
    SizeMismatch {
        /// Size the contents call for.
        expected: usize,
        /// Size found.
        found: usize,
    },
    /// The file system of named regions (`/dev/shm`, a `tmpfs`) has not the space to
    /// reserve a new region of `wanted` bytes (`ENOSPC` from `posix_fallocate`). Nothing was
    /// left behind.
    OutOfSpace {
        /// Bytes the region needs.
        wanted: usize,
    },
    /// A system call failed.
    Os(io::Error),
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(n) => write!(
                f,
                "invalid shared memory name {n:?}: want 1 to {MAX_NAME_LEN} characters, no '/' \
                 (but an optional leading one) and no NUL"
            ),
            Self::AlreadyExists(n) => write!(f, "shared memory {n:?} already exists"),
            Self::NotFound(n) => write!(f, "no shared memory named {n:?}"),
            Self::NotRegularFile(n) => write!(f, "shared memory {n:?} is not a regular file"),
            Self::NotOwner { owner, expected } => write!(
                f,
                "shared memory belongs to uid {owner}, not to us (uid {expected})"
            ),
            Self::InsecureMode { mode } => write!(
                f,
                "shared memory has mode {mode:o}: group or others have access (want 600)"
            ),
            Self::SizeMismatch { expected, found } => write!(
                f,
                "shared memory is {found} bytes long, its contents call for {expected}"
            ),
            Self::OutOfSpace { wanted } => write!(
                f,
                "no space for {wanted} bytes of shared memory (is /dev/shm too small?)"
            ),
            Self::Os(e) => write!(f, "shared memory: {e}"),
        }
    }
}

impl std::error::Error for ShmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ShmError {
    fn from(e: io::Error) -> Self {
        Self::Os(e)
    }
}

/// Lets go of the `flock` of a named region's file, if it holds one (see
/// [`SharedRegion::create_named_file`]). Unlocking cannot fail for an open file; if it did,
/// the lock would go with the last mapping of the region.
pub(crate) fn unlock(file: &File) {
    let _ = flock(file.as_fd(), FlockOp::Unlock);
}

/// [`unlock`]s a file when dropped, on every path out of a function that locked it.
pub(crate) struct UnlockOnDrop<'a>(pub(crate) &'a File);

impl Drop for UnlockOnDrop<'_> {
    fn drop(&mut self) {
        unlock(self.0);
    }
}

/// Maps all `size` bytes of `file` (its length as `fstat` gave it), never zeroing them: an
/// existing object's, whose contents its users validate.
///
/// # Errors
///
/// [`ShmError::SizeMismatch`] for an empty file; [`ShmError::Os`] from `mmap`.
fn map_whole(file: &File, size: u64) -> Result<Mapping, ShmError> {
    let len = usize::try_from(size).unwrap_or(usize::MAX);
    if len == 0 {
        return Err(ShmError::SizeMismatch {
            expected: 1,
            found: 0,
        });
    }
    Ok(Mapping::from_fd(file.as_fd(), len, false)?)
}

/// The `shm_open` form of `name` (with a leading `/`), checked.
fn c_name(name: &str) -> Result<CString, ShmError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() || bare.len() > MAX_NAME_LEN || bare.contains(['/', '\0']) {
        return Err(ShmError::InvalidName(name.to_owned()));
    }
    CString::new(format!("/{bare}")).map_err(|_| ShmError::InvalidName(name.to_owned()))
}

impl SharedRegion {
    /// A new anonymous region of `len` zeroed bytes (`mmap(MAP_SHARED | MAP_ANONYMOUS |
    /// MAP_NORESERVE)`), shared with the children forked after this call. Memory is committed
    /// as pages are first touched.
    ///
    /// # Errors
    ///
    /// [`ShmError::SizeMismatch`] if `len` is 0; [`ShmError::Os`] (`ENOMEM`) if the address
    /// space is exhausted.
    ///
    /// # Examples
    ///
    /// ```
    /// let region = host_runtime::shm::SharedRegion::new(4096)?;
    /// assert_eq!(region.len(), 4096);
    /// # Ok::<(), host_runtime::shm::ShmError>(())
    /// ```
    pub fn new(len: usize) -> Result<SharedRegion, ShmError> {
        if len == 0 {
            return Err(ShmError::SizeMismatch {
                expected: 1,
                found: 0,
            });
        }
        Ok(SharedRegion {
            mapping: Arc::new(Mapping::anonymous(len)?),
            name: None,
            file: None,
        })
    }

    /// A new anonymous region of `len` zeroed bytes backed by a sealed memory file
    /// ([`memfd_sealed`]: no name in any file system, its size fixed), whose descriptor
    /// ([`fd`](Self::fd)) can be handed to a process that does not inherit the mapping:
    /// a child that re-executes the program keeps it across `execve`, or it goes as
    /// `SCM_RIGHTS`. That process maps it with [`from_memfd`](Self::from_memfd).
    ///
    /// # Errors
    ///
    /// [`ShmError::SizeMismatch`] if `len` is 0; [`ShmError::Os`] (`EMFILE`, `ENOMEM`).
    pub(crate) fn new_memfd(len: usize) -> Result<SharedRegion, ShmError> {
        SharedRegion::new_shareable(len)
    }

    /// A new anonymous region of `len` zeroed bytes, shared with the children forked after
    /// this call as [`new`](Self::new) is, and also with children that re-execute the program
    /// when passed as a [`ByFd`](crate::process::ByFd) argument: it lives in a sealed memory
    /// file (`memfd_create(2)`; its size can't change, nothing is left in `/dev/shm`).
    ///
    /// # Errors
    ///
    /// [`ShmError::SizeMismatch`] if `len` is 0; [`ShmError::Os`] (`EMFILE`, `ENOMEM`).
    ///
    /// # Examples
    ///
    /// ```
    /// let region = host_runtime::shm::SharedRegion::new_shareable(4096)?;
    /// assert_eq!(region.len(), 4096);
    /// # Ok::<(), host_runtime::shm::ShmError>(())
    /// ```
    pub fn new_shareable(len: usize) -> Result<SharedRegion, ShmError> {
        if len == 0 {
            return Err(ShmError::SizeMismatch {
                expected: 1,
                found: 0,
            });
        }
        let file = File::from(memfd_sealed("host-runtime-region", len)?);
        // Zeroed: the file is new, of `len` zero bytes, and no other process holds it yet.
        let mapping = Mapping::from_fd(file.as_fd(), len, true)?;
        Ok(SharedRegion {
            mapping: Arc::new(mapping),
            name: None,
            file: Some(Arc::new(file)),
        })
    }

    /// Maps the whole memory file `file`, made by [`new_memfd`](Self::new_memfd) in another
    /// process and handed to this one (its contents are whatever that process and others
    /// wrote: the users of the region validate them, as for a named region).
    ///
    /// # Errors
    ///
    /// [`ShmError::NotRegularFile`] if it is not a regular file, [`ShmError::SizeMismatch`] if
    /// it is empty, [`ShmError::Os`].
    pub(crate) fn from_memfd(file: File) -> Result<SharedRegion, ShmError> {
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(ShmError::NotRegularFile("an inherited memory file".into()));
        }
        let mapping = map_whole(&file, meta.size())?;
        Ok(SharedRegion {
            mapping: Arc::new(mapping),
            name: None,
            file: Some(Arc::new(file)),
        })
    }

    /// The file of a region made by [`new_memfd`](Self::new_memfd) or
    /// [`from_memfd`](Self::from_memfd), or kept with [`keeping_file`](Self::keeping_file);
    /// `None` for other regions.
    pub(crate) fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.file.as_deref().map(AsFd::as_fd)
    }

    /// This region, keeping `file` (the named object it maps, from
    /// [`create_named_file`](Self::create_named_file)) to hand on as [`fd`](Self::fd).
    pub(crate) fn keeping_file(mut self, file: File) -> SharedRegion {
        self.file = Some(Arc::new(file));
        self
    }

    /// Creates the named region `name` (a leading `/` is optional) of `len` zeroed bytes, mode
    /// `0600`, and maps it. It exists until [`unlink_named`](Self::unlink_named).
    ///
    /// The region's memory is reserved in `/dev/shm` at once (`posix_fallocate`), so it counts
    /// fully against the size of that `tmpfs` (Docker's default is 64 MiB) from the start, and
    /// a `/dev/shm` too small for it is an error here, never a `SIGBUS` at a later access.
    ///
    /// # Errors
    ///
    /// [`ShmError::InvalidName`], [`ShmError::AlreadyExists`], [`ShmError::SizeMismatch`] if
    /// `len` is 0, [`ShmError::OutOfSpace`] if `/dev/shm` has not `len` bytes free,
    /// [`ShmError::Os`]. On error no object is left behind.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::shm::{SharedRegion, ShmError};
    ///
    /// # let _ = SharedRegion::unlink_named("doc-create-named");
    /// let region = SharedRegion::create_named("doc-create-named", 8192)?;
    /// assert_eq!(region.name(), Some("/doc-create-named"));
    /// assert!(matches!(
    ///     SharedRegion::create_named("doc-create-named", 8192),
    ///     Err(ShmError::AlreadyExists(_))
    /// ));
    /// SharedRegion::unlink_named("doc-create-named")?;
    /// # Ok::<(), ShmError>(())
    /// ```
    pub fn create_named(name: &str, len: usize) -> Result<SharedRegion, ShmError> {
        let (region, file) = SharedRegion::create_named_file(name, len)?;
        unlock(&file);
        Ok(region)
    }

    /// [`create_named`](Self::create_named), also giving back the object's file, which holds
    /// an exclusive `flock` (taken right after the object was made, before its space is
    /// reserved): until it is unlocked ([`unlock`]), callers of
    /// [`open_named_file`](Self::open_named_file) that lock see the region as being made.
    ///
    /// The lock belongs to the open file description, which the *mapping* holds too: closing
    /// the file does not release it while the region is mapped (in this process or a child
    /// forked since); [`unlock`] does. The death of every process holding it does.
    pub(crate) fn create_named_file(
        name: &str,
        len: usize,
    ) -> Result<(SharedRegion, File), ShmError> {
        let c = c_name(name)?;
        if len == 0 {
            return Err(ShmError::SizeMismatch {
                expected: 1,
                found: 0,
            });
        }
        let display = c.to_string_lossy().into_owned();
        let fd = shm_create_exclusive(&c).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => ShmError::AlreadyExists(display.clone()),
            _ => ShmError::Os(e),
        })?;
        let file = File::from(fd);
        // The object is new and ours: nobody else holds a lock on it yet, unless a process
        // opened it in the instant since its creation (then it finds it empty and backs off).
        let made = flock(file.as_fd(), FlockOp::TryExclusiveLock)
            .map_err(ShmError::Os)
            // Reserve the space now (this also sets the size), so that a full `/dev/shm` is
            // an error here rather than a SIGBUS at the first touch of a missing page.
            .and_then(|()| {
                allocate(file.as_fd(), len).map_err(|e| match e.raw_os_error() {
                    Some(libc::ENOSPC) => ShmError::OutOfSpace { wanted: len },
                    _ => ShmError::Os(e),
                })
            })
            .and_then(|()| Mapping::from_fd(file.as_fd(), len, true).map_err(ShmError::Os));
        match made {
            Ok(mapping) => Ok((
                SharedRegion {
                    mapping: Arc::new(mapping),
                    name: Some(display.into()),
                    file: None,
                },
                file,
            )),
            Err(e) => {
                let _ = shm_unlink(&c);
                Err(e)
            }
        }
    }

    /// Opens and maps the named region `name`, made by [`create_named`](Self::create_named) in
    /// any process of our user, at its full size.
    ///
    /// Checks, before mapping, that it is a regular file owned by our effective user id, with
    /// no permission for group or others, and not empty.
    ///
    /// # Errors
    ///
    /// [`ShmError::InvalidName`], [`ShmError::NotFound`], [`ShmError::NotRegularFile`],
    /// [`ShmError::NotOwner`], [`ShmError::InsecureMode`], [`ShmError::SizeMismatch`] (empty),
    /// [`ShmError::Os`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::shm::{SharedRegion, ShmError};
    ///
    /// assert!(matches!(SharedRegion::open_named("doc-no-such-region"), Err(ShmError::NotFound(_))));
    /// # let _ = SharedRegion::unlink_named("doc-open-named");
    /// let made = SharedRegion::create_named("doc-open-named", 4096)?;
    /// let opened = SharedRegion::open_named("doc-open-named")?;
    /// assert_eq!(opened.len(), made.len());
    /// SharedRegion::unlink_named("doc-open-named")?;
    /// # Ok::<(), ShmError>(())
    /// ```
    pub fn open_named(name: &str) -> Result<SharedRegion, ShmError> {
        SharedRegion::open_named_file(name).map(|(region, _file)| region)
    }

    /// [`open_named`](Self::open_named), also giving back the object's open file (unlocked),
    /// for a caller that locks it ([`crate::sys::shm::flock`]; the mapping holds the lock as
    /// long as it lives, so let go with [`unlock`]) or checks that the name still names it
    /// ([`SharedRegion::names`]).
    pub(crate) fn open_named_file(name: &str) -> Result<(SharedRegion, File), ShmError> {
        let c = c_name(name)?;
        let display = c.to_string_lossy().into_owned();
        let fd = shm_open_existing(&c).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ShmError::NotFound(display.clone()),
            _ => ShmError::Os(e),
        })?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(ShmError::NotRegularFile(display));
        }
        let expected = geteuid();
        if meta.uid() != expected {
            return Err(ShmError::NotOwner {
                owner: meta.uid(),
                expected,
            });
        }
        if meta.mode() & 0o077 != 0 {
            return Err(ShmError::InsecureMode {
                mode: meta.mode() & 0o7777,
            });
        }
        let mapping = map_whole(&file, meta.size())?;
        Ok((
            SharedRegion {
                mapping: Arc::new(mapping),
                name: Some(display.into()),
                file: None,
            },
            file,
        ))
    }

    /// Whether the name `name` still names the object open as `file` (same device and inode):
    /// `false` if the name is gone or names another object now.
    ///
    /// # Errors
    ///
    /// [`ShmError::InvalidName`], [`ShmError::Os`].
    pub(crate) fn names(name: &str, file: &File) -> Result<bool, ShmError> {
        let c = c_name(name)?;
        let now = match shm_open_existing(&c) {
            Ok(fd) => File::from(fd).metadata()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(ShmError::Os(e)),
        };
        let ours = file.metadata()?;
        Ok(now.dev() == ours.dev() && now.ino() == ours.ino())
    }

    /// Removes the name `name` (`shm_unlink`). Processes that mapped the region keep it; its
    /// memory is freed when the last one unmaps it.
    ///
    /// # Errors
    ///
    /// [`ShmError::InvalidName`], [`ShmError::NotFound`], [`ShmError::Os`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::shm::{SharedRegion, ShmError};
    ///
    /// assert!(matches!(SharedRegion::unlink_named("doc-never-made"), Err(ShmError::NotFound(_))));
    /// ```
    pub fn unlink_named(name: &str) -> Result<(), ShmError> {
        let c = c_name(name)?;
        shm_unlink(&c).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ShmError::NotFound(c.to_string_lossy().into_owned()),
            _ => ShmError::Os(e),
        })
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.mapping.len()
    }

    /// Whether the length is 0 (never).
    pub fn is_empty(&self) -> bool {
        self.mapping.is_empty()
    }

    /// The name with its leading `/`, for a named region.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Claims a part of the region and returns its view; see
    /// [`Mapping::claim`](crate::shared::region::Mapping::claim) for the rules (parts never
    /// overlap; new queues only in a region this process created).
    ///
    /// # Errors
    ///
    /// [`ClaimError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::shm::SharedRegion;
    /// use host_runtime::shared::region::{Part, View};
    ///
    /// let region = SharedRegion::new(1 << 16)?;
    /// let part = Part::NewQueue { offset: 0, len: 4096, config: ipc_core::Config::new(4, 64) };
    /// let View::Queue(q) = region.claim(part)? else { unreachable!() };
    /// q.get().try_push(b"hi")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn claim(&self, part: Part) -> Result<View, ClaimError> {
        Mapping::claim(&self.mapping, part)
    }

    /// Claims `len` bytes at `offset` as plain bytes; see [`Mapping::claim_bytes`].
    ///
    /// # Errors
    ///
    /// [`ClaimError`]: out of bounds, `offset` not a multiple of 8, or an overlap.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::shm::SharedRegion;
    ///
    /// let region = SharedRegion::new(4096)?;
    /// let whole = region.claim_bytes(0, region.len())?;
    /// whole.write(0, b"every byte of the region");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn claim_bytes(&self, offset: usize, len: usize) -> Result<SharedBytes, ClaimError> {
        Mapping::claim_bytes(&self.mapping, offset, len)
    }
}

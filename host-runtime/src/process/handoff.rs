//! [`ByFd`]: a queue or region passed to a spawned (or forkserver) child as a file descriptor
//! of its memory file, instead of by name.
//!
//! Serializing a `ByFd` while [`Builder::run`](super::Builder::run) encodes a child's
//! arguments adds a copy of the memory file's descriptor to the ones the child is handed
//! (inherited across its `execve`, or sent as `SCM_RIGHTS` to the fork server) and writes its
//! index; deserializing it in the child takes that descriptor (once) and maps it. Nothing is
//! left in `/dev/shm`: the memory is freed when the last process holding it lets go.
//! Anywhere else (a queue message, a file) serializing a `ByFd` is an error.

use std::cell::RefCell;
use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd};

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{self, Serialize, Serializer};

use crate::queue::RawQueue;
use crate::shm::SharedRegion;
use crate::sys;
use crate::Queue;

/// A [`SharedRegion`], [`RawQueue`] or [`Queue`] that crosses to a child started by
/// [`Builder::run`](super::Builder::run) as a descriptor of its memory file, with any start
/// method: serializing it while `run` encodes the child's arguments adds a copy of the
/// descriptor to the ones the child is handed (inherited across its `execve`, or sent as
/// `SCM_RIGHTS` to the fork server) and writes its index; deserializing it in the child takes
/// that descriptor (once), maps it and validates it. Nothing is left in `/dev/shm`: the memory
/// is freed when the last process holding it lets go. Anywhere else (a queue message, a file)
/// serializing a `ByFd` is an error. Make the handle with
/// [`SharedRegion::new_shareable`], [`queue::Builder::build_raw_shareable`](crate::queue::Builder::build_raw_shareable)
/// or [`queue::Builder::build_shareable`](crate::queue::Builder::build_shareable).
///
/// A child holds at most 6 of them (with its arguments and result files, the
/// [`MAX_FDS`](crate::sys::MAX_FDS) descriptors a request carries).
///
/// # Examples
///
/// ```
/// use host_runtime::process::{Builder, ByFd, StartMethod};
/// use host_runtime::Queue;
///
/// host_runtime::init_before_main!();
///
/// fn produce(q: ByFd<Queue<u64>>) {
///     q.0.put(42).unwrap();
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let q = Queue::<u64>::builder().maxsize(4).build_shareable()?;
///     let h = Builder::new()
///         .start_method(StartMethod::Spawn)
///         .run(produce, ByFd(q.clone()))?;
///     h.join()?;
///     assert_eq!(q.get()?, 42);
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct ByFd<T>(pub T);

/// What [`ByFd`] can carry: a handle whose memory is a memory file.
pub trait FdShareable: sealed::Sealed {}

mod sealed {
    use super::*;

    /// The crate's side of [`FdShareable`](super::FdShareable).
    pub trait Sealed: Sized {
        /// The memory file's descriptor; `None` for a handle made without one.
        fn handoff_fd(&self) -> Option<BorrowedFd<'_>>;
        /// The handle over a memory file handed to this process.
        fn from_handoff(file: File) -> Result<Self, String>;
    }
}

impl FdShareable for SharedRegion {}
impl sealed::Sealed for SharedRegion {
    fn handoff_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd()
    }

    fn from_handoff(file: File) -> Result<Self, String> {
        SharedRegion::from_memfd(file).map_err(|e| e.to_string())
    }
}

impl FdShareable for RawQueue {}
impl sealed::Sealed for RawQueue {
    fn handoff_fd(&self) -> Option<BorrowedFd<'_>> {
        self.region_fd()
    }

    fn from_handoff(file: File) -> Result<Self, String> {
        let region = SharedRegion::from_memfd(file).map_err(|e| e.to_string())?;
        // Validates the header and every part, as for a named queue.
        RawQueue::attach(region).map_err(|e| e.to_string())
    }
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + 'static> FdShareable for Queue<T> {}
impl<T: serde::Serialize + serde::de::DeserializeOwned + 'static> sealed::Sealed for Queue<T> {
    fn handoff_fd(&self) -> Option<BorrowedFd<'_>> {
        self.raw().region_fd()
    }

    fn from_handoff(file: File) -> Result<Self, String> {
        Queue::of_item_type(RawQueue::from_handoff(file)?).map_err(|e| e.to_string())
    }
}

thread_local! {
    /// While `Builder::run` encodes arguments: the index the first handed descriptor gets in
    /// the child, and the descriptors handed so far.
    static HANDING: RefCell<Option<(usize, Vec<OwnedFd>)>> = const { RefCell::new(None) };
}

/// Runs `encode` with [`ByFd`] serialization on, its descriptors numbered from `base`; gives
/// back what it made and the descriptors to hand to the child.
pub(super) fn handing<R>(base: usize, encode: impl FnOnce() -> R) -> (R, Vec<OwnedFd>) {
    let before = HANDING.with(|h| h.replace(Some((base, Vec::new()))));
    let made = encode();
    let handed = HANDING.with(|h| h.replace(before));
    (made, handed.map(|(_, fds)| fds).unwrap_or_default())
}

impl<T: FdShareable> Serialize for ByFd<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fd = self.0.handoff_fd().ok_or_else(|| {
            ser::Error::custom(
                "ByFd: the handle has no memory file (make it with new_shareable / \
                 build_shareable)",
            )
        })?;
        let index = HANDING.with(|h| {
            let mut h = h.borrow_mut();
            let Some((base, fds)) = h.as_mut() else {
                return Err("ByFd crosses only as an argument of process::Builder::run".into());
            };
            if *base + fds.len() + 3 > sys::MAX_FDS {
                return Err(format!(
                    "ByFd: a child can be handed at most {} descriptors",
                    sys::MAX_FDS - 2
                ));
            }
            fds.push(fd.try_clone_to_owned().map_err(|e| e.to_string())?);
            Ok(*base + fds.len() - 1)
        });
        let index =
            u32::try_from(index.map_err(ser::Error::custom)?).map_err(ser::Error::custom)?;
        serializer.serialize_u32(index)
    }
}

impl<'de, T: FdShareable> Deserialize<'de> for ByFd<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let index = u32::deserialize(deserializer)?;
        let fd = usize::try_from(index)
            .ok()
            .and_then(super::spawn::take_inherited_fd)
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "ByFd: no descriptor {index} was handed to this process"
                ))
            })?;
        T::from_handoff(File::from(fd))
            .map(ByFd)
            .map_err(de::Error::custom)
    }
}

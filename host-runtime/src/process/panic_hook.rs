//! The panic hook of children: a panic in a started child is reported with one raw `write(2)`,
//! taking no lock another thread of the parent could have held at the fork (see *Panics in the
//! child* in the [module docs](super#forking-a-multi-threaded-parent)).

use std::io;
use std::os::fd::AsFd;
use std::panic::{self, PanicHookInfo};
use std::sync::Once;
use std::thread;

use super::identity::{in_child, try_child_name};
use crate::sys;

/// Installs the panic hook once per process (children inherit it).
static PANIC_HOOK: Once = Once::new();

/// Installs (once per process) the panic hook described in the module docs.
pub(super) fn install_child_panic_hook() {
    // `take_hook` panics on a panicking thread (e.g. `start` called from a destructor during
    // unwinding): leave the installation to a later `start` then.
    if PANIC_HOOK.is_completed() || thread::panicking() {
        return;
    }
    PANIC_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if in_child() {
                report_child_panic(info);
            } else {
                previous(info);
            }
        }));
    });
}

/// Writes a child's panic message to fd 2 with one raw `write`, taking no lock that another
/// thread of the parent could have held at the fork.
fn report_child_panic(info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    // The name is left out if a thread of the child holds the identity lock.
    let name = try_child_name();
    let name = name.as_deref().unwrap_or("?");
    let pid = sys::getpid();
    let text = match info.location() {
        Some(loc) => format!("process '{name}' (pid {pid}) panicked at {loc}:\n{message}\n"),
        None => format!("process '{name}' (pid {pid}) panicked:\n{message}\n"),
    };
    let _ = sys::write_all(io::stderr().as_fd(), text.as_bytes());
}

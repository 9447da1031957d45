//! `SharedRegion`: memory a parent shares with the children it forks, and named regions.
//!
//! Run with `cargo run -p host-runtime --example shm`.

use std::error::Error;
use std::sync::atomic::Ordering;

use host_runtime::shm::{SharedRegion, ShmError};
use host_runtime::Process;

fn main() -> Result<(), Box<dyn Error>> {
    // An anonymous region: children forked afterwards share it.
    let region = SharedRegion::new(4096)?;
    let bytes = region.claim_bytes(0, 4096)?;
    let children: Vec<Process> = (0..4)
        .map(|i| {
            let bytes = bytes.clone();
            Process::new(move || {
                bytes.u64_at(0).fetch_add(1, Ordering::Relaxed);
                bytes.write(64 + 16 * i, format!("child {i} was here").as_bytes());
            })
        })
        .collect();
    for c in &children {
        c.start()?;
    }
    for c in &children {
        c.join()?;
    }
    println!(
        "counter after 4 children: {}",
        bytes.u64_at(0).load(Ordering::Relaxed)
    );
    let mut note = [0u8; 16];
    bytes.read(64 + 16 * 2, &mut note);
    println!("note from child 2: {:?}", String::from_utf8_lossy(&note));

    // A named region: created 0600 and exclusively; opened after checks of owner and mode.
    let name = format!("host-runtime-example-shm-{}", std::process::id());
    let made = SharedRegion::create_named(&name, 8192)?;
    match SharedRegion::create_named(&name, 8192) {
        Err(ShmError::AlreadyExists(n)) => println!("second create of {n}: already exists"),
        other => println!("unexpected: {other:?}"),
    }
    let opened = SharedRegion::open_named(&name)?;
    println!(
        "opened {:?}: {} bytes (made {} bytes)",
        opened.name(),
        opened.len(),
        made.len()
    );
    SharedRegion::unlink_named(&name)?;
    Ok(())
}

//! A queue in a `static`, shared by an interrupt handler (producer) and the main loop
//! (consumer), with no allocator and no OS.
//!
//! On a bare-metal target (`target_os = "none"`) this is a `#![no_std] #![no_main]`
//! program; CI builds it for thumbv7em:
//!
//! ```text
//! cargo build -p ipc-core --example bare_metal --target thumbv7em-none-eabihf
//! ```
//!
//! On a hosted target it runs as an ordinary program (`cargo run -p ipc-core --example
//! bare_metal`), simulating the interrupts with a loop.
#![cfg_attr(target_os = "none", no_std, no_main)]

use ipc_core::{ByteQueue, Config, Queue, Region};

/// One ADC sample with its timestamp, as an interrupt handler would read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    tick: u32,
    value: u16,
}

/// Samples from the ADC interrupt to the main loop.
static SAMPLES: Queue<Sample, 16> = Queue::new();

/// Log lines from anywhere to a UART task, as bytes, in a byte queue over a static region.
const LOG_BYTES: usize = match ByteQueue::memory_size(Config::new(8, 32)) {
    Ok(size) => size,
    Err(_) => panic!("bad log queue layout"),
};
static mut LOG_REGION: Region<LOG_BYTES> = Region::new();

/// The ADC interrupt handler: never blocks, drops the sample if the main loop is behind.
fn adc_interrupt(tick: u32) -> bool {
    SAMPLES
        .push(Sample {
            tick,
            value: (tick * 37 % 4096) as u16,
        })
        .is_ok()
}

/// The main loop's work: average what has arrived, log it; returns (count, sum).
fn main_loop(log: &ByteQueue<'_>) -> (u32, u32) {
    let (mut count, mut sum) = (0u32, 0u32);
    while let Some(sample) = SAMPLES.pop() {
        count += 1;
        sum += u32::from(sample.value);
    }
    if count > 0 {
        let mut line = [0u8; 8];
        line[..4].copy_from_slice(&count.to_le_bytes());
        line[4..].copy_from_slice(&(sum / count).to_le_bytes());
        // A full log drops the line rather than stall the loop.
        let _ = log.try_push(&line);
    }
    (count, sum)
}

/// Runs the scenario; returns the number of samples the main loop saw.
fn run() -> u32 {
    // SAFETY: LOG_REGION is borrowed here only, once, before any other use.
    let region = unsafe { &mut *core::ptr::addr_of_mut!(LOG_REGION) };
    let Ok(log) = ByteQueue::init(region.as_mut_slice(), Config::new(8, 32)) else {
        return 0;
    };
    let mut seen = 0;
    for tick in 0..100u32 {
        // Bursts of interrupts between main-loop passes.
        for burst in 0..(tick % 7) {
            adc_interrupt(tick * 8 + burst);
        }
        seen += main_loop(&log).0;
    }
    // The UART task's turn: it gets the newest lines the log could hold.
    let mut line = [0u8; 32];
    while log.try_pop(&mut line).is_ok() {}
    seen
}

#[cfg(target_os = "none")]
mod bare_metal {
    /// Entry point: the reset handler of a real board would call this.
    #[no_mangle]
    pub extern "C" fn _start() -> ! {
        let _samples = super::run();
        loop {
            core::hint::spin_loop();
        }
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    let seen = run();
    // 100 passes with (tick % 7) interrupts each; the queue of 16 never overflows.
    let expected: u32 = (0..100).map(|t| t % 7).sum();
    assert_eq!(seen, expected);
    println!("main loop saw {seen} samples from the simulated interrupt handler");
}

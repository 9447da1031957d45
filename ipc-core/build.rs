//! Names the word-width choice once: `cfg(word64)` when stamps and slot words are 64
//! bits. That is where the target has 64-bit atomics, unless `--cfg ipc_core_word32`
//! asks for the 32-bit layout of thumbv7em / riscv32imac (to test it on a host).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(word64)");
    println!("cargo::rustc-check-cfg=cfg(ipc_core_word32)");
    println!("cargo::rerun-if-env-changed=CARGO_CFG_IPC_CORE_WORD32");
    let has_atomic_64 = std::env::var("CARGO_CFG_TARGET_HAS_ATOMIC")
        .is_ok_and(|widths| widths.split(',').any(|w| w == "64"));
    let forced_32 = std::env::var_os("CARGO_CFG_IPC_CORE_WORD32").is_some();
    if has_atomic_64 && !forced_32 {
        println!("cargo::rustc-cfg=word64");
    }
}

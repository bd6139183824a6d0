//! Build script: declares the crate's custom cfgs and refuses non-Linux targets.
//!
//! It never probes the kernel: the machine that builds ringloop is not the machine
//! that runs it, so io_uring support is discovered at run time (see `driver/`).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // `fuzzing` (passed by `cargo fuzz`) or `ringloop_fuzzing` (set by hand, e.g.
    // RUSTFLAGS="--cfg ringloop_fuzzing") exposes the internal hooks the fuzz targets
    // drive (`ringloop::__fuzz`).
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
    println!("cargo::rustc-check-cfg=cfg(ringloop_fuzzing)");
    // `poll_io`: either poll-style trait feature is on, so the readiness-wait path they
    // share (`net/ready.rs`) is compiled.
    println!("cargo::rustc-check-cfg=cfg(poll_io)");
    if std::env::var_os("CARGO_FEATURE_TOKIO_IO").is_some()
        || std::env::var_os("CARGO_FEATURE_FUTURES_IO").is_some()
    {
        println!("cargo::rustc-cfg=poll_io");
    }

    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        println!(
            "cargo::error=ringloop runs on Linux only (it is built on io_uring and epoll); \
             the target OS here is `{os}`"
        );
    }
}

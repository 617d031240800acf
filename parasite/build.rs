//! Links the parasite as a static PIE with its entry first (parasite.ld).
//! Relocation model and the rest of the flags come from compel's build
//! script through CARGO_ENCODED_RUSTFLAGS.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let script = format!("{dir}/parasite.ld");
    println!("cargo:rerun-if-changed=parasite.ld");
    for arg in ["-nostartfiles", "-nostdlib", "-static-pie", "-Wl,-e,_start"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{script}");
}

//! With the `cuda` feature, the decode step's fused kernels
//! (`src/backend/decode_step/kernels.cu`) compiled to PTX by nvcc into
//! `OUT_DIR/decode_step.ptx`, which the CUDA step embeds. nvcc is `$NVCC`,
//! else `$CUDA_ROOT/bin/nvcc`, else the one on the PATH
//! (`./scripts/cuda-build` fetches a pinned one); the PTX targets
//! `compute_$CUDA_COMPUTE_CAP` (default 90: H100/H200).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "src/backend/decode_step/kernels.cu";
    println!("cargo:rerun-if-changed={source}");
    for var in ["NVCC", "CUDA_ROOT", "CUDA_COMPUTE_CAP"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let nvcc = std::env::var_os("NVCC")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CUDA_ROOT").map(|r| PathBuf::from(r).join("bin/nvcc")))
        .unwrap_or_else(|| PathBuf::from("nvcc"));
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("decode_step.ptx");
    let status = Command::new(&nvcc)
        .args(["-ptx", "-O3", &format!("-arch=compute_{cap}"), source, "-o"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "running {} to compile {source}: {e} (set NVCC or CUDA_ROOT; \
                 ./scripts/cuda-build fetches nvcc)",
                nvcc.display()
            )
        });
    assert!(status.success(), "nvcc could not compile {source}");
}

//! The page's WebAssembly is built with SIMD128 (`.cargo/config.toml`), so
//! that the CPU fallback's kernels compute four f32 lanes at a time. Reads the
//! `.wasm` that trunk wrote into `dist/` and counts the vector instructions
//! (the 0xFD prefix) in the engine's own functions, found by the name section.
//! A build without SIMD128 has vector code only where a dependency enables it
//! function by function (gemm's microkernels, which it then leaves unused),
//! and none in the engine (0 of some 68,000 instructions, against some 1,800
//! with SIMD128).

use std::collections::HashMap;
use std::path::PathBuf;

use wasmparser::{KnownCustom, Name, Operator, Parser, Payload, TypeRef};

/// The page's `.wasm` in `dir` (`dist/`).
fn page_wasm(dir: &str) -> PathBuf {
    let dist = e2e::repo_root().join(dir);
    let found: Vec<PathBuf> = std::fs::read_dir(&dist)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; build the page first with `trunk build --release --offline`",
                dist.display()
            )
        })
        .map(|entry| entry.expect("a dist/ entry").path())
        .filter(|path| path.to_string_lossy().ends_with("_bg.wasm"))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the page's .wasm files in {dir}/: {found:?}"
    );
    found.into_iter().next().unwrap()
}

/// What some functions' code holds.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    functions: usize,
    instructions: usize,
    simd: usize,
    f32x4_mul: usize,
    f32x4_add: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.functions += other.functions;
        self.instructions += other.instructions;
        self.simd += other.simd;
        self.f32x4_mul += other.f32x4_mul;
        self.f32x4_add += other.f32x4_add;
    }
}

/// The counts of the whole module and of the functions whose names start
/// with one of `prefixes`; fails when the module has no function names.
fn count(wasm: &[u8], prefixes: &[&str]) -> (Counts, Counts) {
    let mut imported = 0u32;
    let mut bodies: Vec<Counts> = Vec::new();
    let mut names: HashMap<u32, String> = HashMap::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("a valid module") {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.expect("an import");
                    imported += u32::from(matches!(import.ty, TypeRef::Func(_)));
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut counts = Counts {
                    functions: 1,
                    ..Counts::default()
                };
                let mut ops = body.get_operators_reader().expect("a function body");
                while !ops.eof() {
                    let (op, offset) = ops.read_with_offset().expect("an instruction");
                    counts.instructions += 1;
                    counts.simd += usize::from(wasm[offset] == 0xFD);
                    match op {
                        Operator::F32x4Mul => counts.f32x4_mul += 1,
                        Operator::F32x4Add => counts.f32x4_add += 1,
                        _ => {}
                    }
                }
                bodies.push(counts);
            }
            Payload::CustomSection(section) => {
                if let KnownCustom::Name(reader) = section.as_known() {
                    for name in reader {
                        if let Ok(Name::Function(map)) = name {
                            for naming in map {
                                let naming = naming.expect("a function name");
                                names.insert(naming.index, naming.name.to_string());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    assert!(
        !names.is_empty(),
        "the page's .wasm has no function names (a name section) to find the engine's code by"
    );
    let (mut all, mut matching) = (Counts::default(), Counts::default());
    for (i, counts) in bodies.into_iter().enumerate() {
        all.add(counts);
        let index = imported + i as u32;
        if names
            .get(&index)
            .is_some_and(|n| prefixes.iter().any(|p| n.starts_with(p)))
        {
            matching.add(counts);
        }
    }
    (all, matching)
}

#[test]
fn the_page_is_built_with_simd128() {
    assert_simd128(&page_wasm("dist"));
}

fn assert_simd128(path: &std::path::Path) {
    let wasm = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (all, engine) = count(&wasm, &["engine::", "<engine::"]);
    println!(
        "{}:\n  all functions: {all:?}\n  the engine's: {engine:?}",
        path.display()
    );
    assert!(
        engine.functions > 20,
        "{} names only {} of the engine's functions",
        path.display(),
        engine.functions
    );
    assert!(
        engine.simd > 0,
        "{}: the engine's functions have no wasm SIMD instructions: {engine:?}; every \
         wasm32 build should take `-C target-feature=+simd128` from .cargo/config.toml \
         (a RUSTFLAGS variable replaces it)",
        path.display()
    );
}

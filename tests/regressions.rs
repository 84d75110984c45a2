//! Replays the fuzz targets' seeds (`fuzz/seeds/TARGET/`) and every input a fuzzer once failed on
//! (`tests/regressions/TARGET/`) through the same entry points the fuzz targets call, so a fixed
//! crash stays fixed and the harnesses themselves keep building and passing.
#![allow(clippy::unwrap_used)] // test code

use std::path::Path;

type Target = (&'static str, fn(&[u8]));

/// Every fuzz target this build has, by name, with the function it calls.
fn targets() -> Vec<Target> {
    let mut targets: Vec<Target> = vec![
        ("request_head", microweb::fuzzing::request_head),
        ("chunked_body", microweb::fuzzing::chunked_body),
        ("multipart", microweb::fuzzing::multipart),
        ("forms_cookies", microweb::fuzzing::forms_cookies),
        ("ranges_conditional", microweb::fuzzing::ranges_conditional),
        ("proxy_header", microweb::fuzzing::proxy_header),
    ];
    #[cfg(feature = "websockets")]
    targets.push(("ws_upgrade", microweb::fuzzing::ws_upgrade));
    #[cfg(feature = "templates")]
    targets.push(("template", microweb::fuzzing::template));
    #[cfg(feature = "crypto")]
    targets.push(("crypto_open", microweb::fuzzing::crypto_open));
    targets
}

/// Whether this build has every optional part a fuzz target needs.
const ALL_TARGETS_BUILT: bool = cfg!(all(
    feature = "websockets",
    feature = "templates",
    feature = "crypto"
));

/// The files of `dir`, sorted (none when it does not exist).
fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_fuzz_target_file_and_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let targets = targets();
    for (name, _) in &targets {
        let target = root.join("fuzz/fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "{} is missing", target.display());
        assert!(
            !inputs(&root.join("fuzz/seeds").join(name)).is_empty(),
            "no seeds for {name}"
        );
    }
    // And no fuzz target is left out of the replay.
    if !ALL_TARGETS_BUILT {
        return;
    }
    for file in inputs(&root.join("fuzz/fuzz_targets")) {
        let stem = file.file_stem().unwrap().to_str().unwrap().to_owned();
        assert!(
            targets.iter().any(|(n, _)| *n == stem),
            "fuzz target {stem} is not replayed here"
        );
    }
}

#[test]
fn seeds_and_past_crashes_pass_every_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let targets = targets();
    let mut replayed = 0;
    for (name, run) in &targets {
        for dir in [root.join("fuzz/seeds"), root.join("tests/regressions")] {
            for file in inputs(&dir.join(name)) {
                let data = std::fs::read(&file).unwrap();
                // A panic names the file: the harness's own message says what broke.
                eprintln!("replaying {}", file.display());
                run(&data);
                replayed += 1;
            }
        }
    }
    assert!(replayed >= targets.len());
}

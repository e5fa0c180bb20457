//! The duplicate scan against jdupes (Debian's package) on a generated tree
//! with hard links, empty files, same-size files of different content,
//! symbolic links (to files, to directories, a loop, one leaving the root) and
//! an unreadable file: the same sets, files and bytes to free.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use sobrio_agent::probe::storage::{ScanContext, scan};
use sobrio_tests::{missing, run};

/// Deterministic content generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn generate(root: &Path, outside: &Path) {
    let mut rng = Rng(0x5eed_1234_abcd);
    let bodies: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            let len = [1, 100, 4095, 4096, 4097, 70_000, 300_000][i % 7];
            (0..len)
                .map(|_| u8::try_from(rng.next() % 251).unwrap())
                .collect()
        })
        .collect();
    for dir in ["a", "a/deep/er", "b", "c/d"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let dirs = ["a", "a/deep/er", "b", "c/d"];
    for n in 0..300 {
        let body = &bodies[usize::try_from(rng.next() % 40).unwrap()];
        let dir = dirs[usize::try_from(rng.next() % 4).unwrap()];
        std::fs::write(root.join(dir).join(format!("f{n}.bin")), body).unwrap();
    }
    // Same size, different content: a single differing last byte, and a
    // differing first byte.
    let mut twin = bodies[5].clone();
    *twin.last_mut().unwrap() ^= 1;
    std::fs::write(root.join("b/same-size-last-byte.bin"), &twin).unwrap();
    let mut twin = bodies[5].clone();
    twin[0] ^= 1;
    std::fs::write(root.join("b/same-size-first-byte.bin"), &twin).unwrap();
    // Hard links (not duplicates of each other), empty files (never).
    std::fs::hard_link(
        root.join("a/f1.bin")
            .canonicalize()
            .unwrap_or(root.join("a/f1.bin")),
        root.join("c/hardlink.bin"),
    )
    .ok();
    std::fs::write(root.join("lonely.bin"), b"only one like me").unwrap();
    std::fs::hard_link(root.join("lonely.bin"), root.join("c/lonely-link.bin")).unwrap();
    std::fs::write(root.join("empty1"), b"").unwrap();
    std::fs::write(root.join("a/empty2"), b"").unwrap();
    // Symbolic links: to a file, to a directory, a loop, one leaving the root.
    symlink(root.join("lonely.bin"), root.join("link-to-file")).unwrap();
    symlink(root.join("a"), root.join("link-to-dir")).unwrap();
    symlink(root.join("c"), root.join("c/d/loop")).unwrap();
    std::fs::create_dir_all(outside).unwrap();
    std::fs::write(outside.join("outside-dup.bin"), &bodies[3]).unwrap();
    symlink(outside, root.join("link-outside")).unwrap();
    // An unreadable file (root still reads it; both tools agree either way).
    std::fs::write(root.join("b/secret.bin"), &bodies[2]).unwrap();
    std::fs::set_permissions(
        root.join("b/secret.bin"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
}

/// (groups, files, bytes to free) from `jdupes -r` output.
fn jdupes_totals(root: &Path) -> Option<(u64, u64, u64)> {
    let output = Command::new("jdupes")
        .arg("-r")
        .arg("-q")
        .arg(root)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).unwrap();
    let (mut groups, mut files, mut bytes) = (0, 0, 0);
    for group in text.split("\n\n").filter(|g| !g.trim().is_empty()) {
        let paths: Vec<&str> = group.lines().filter(|l| !l.is_empty()).collect();
        let size = std::fs::metadata(paths[0]).unwrap().len();
        groups += 1;
        files += paths.len() as u64;
        bytes += size * (paths.len() as u64 - 1);
    }
    Some((groups, files, bytes))
}

#[test]
fn duplicate_totals_equal_jdupes_on_a_tricky_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    generate(&root, &dir.path().join("elsewhere"));
    let Some(expected) = jdupes_totals(&root) else {
        missing("jdupes (apt-get install jdupes)");
        return;
    };
    let result = scan(
        std::slice::from_ref(&root),
        &ScanContext::default(),
        std::time::SystemTime::now(),
        |_| {},
    );
    let ours = (
        result.duplicates.groups,
        result.duplicates.files,
        result.duplicates.reclaimable_bytes,
    );
    println!(
        "jdupes {expected:?}, sobrio {ours:?} over {} files",
        result.files_scanned
    );
    assert!(expected.0 > 20, "the tree holds many sets: {expected:?}");
    assert_eq!(ours, expected);

    // The command shows the same, with the contract's JSON keys.
    let output = run(
        "sobrio-agent",
        &["storage", "--json", root.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["duplicates"]["groups"], expected.0);
    assert_eq!(json["duplicates"]["files"], expected.1);
    assert_eq!(json["duplicates"]["reclaimable_bytes"], expected.2);
    for category in [
        "temp",
        "cache",
        "trash",
        "stale",
        "mail_archives",
        "old_downloads",
    ] {
        assert!(json["categories"][category]["files"].is_u64(), "{category}");
        assert!(json["categories"][category]["bytes"].is_u64(), "{category}");
    }
}

#[test]
fn categories_count_old_downloads_and_stale_files_by_their_times() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("alice");
    let downloads = home.join("Téléchargements");
    std::fs::create_dir_all(&downloads).unwrap();
    std::fs::create_dir_all(home.join(".cache/app")).unwrap();
    std::fs::create_dir_all(home.join(".local/share/Trash/files")).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(400 * 86_400);
    let write = |path: &Path, len: u64, modified: Option<std::time::SystemTime>| {
        let file = std::fs::File::create(path).unwrap();
        file.set_len(len).unwrap();
        if let Some(time) = modified {
            file.set_modified(time).unwrap();
        }
    };
    // Git keeps no file times: set them here.
    write(&downloads.join("old.iso"), 5_000, Some(old));
    write(&downloads.join("new.pdf"), 7_000, None);
    write(&home.join("video.mkv"), 150_000_000, Some(old));
    write(&home.join(".cache/app/blob"), 3_000, None);
    write(&home.join(".local/share/Trash/files/gone.odt"), 9_000, None);
    write(&home.join("archive.pst"), 11_000, None);
    let roots = vec![home.clone()];
    // The test tree lives under /tmp; everything there would be temporary.
    let context = ScanContext {
        temp_dirs: Vec::new(),
        ..ScanContext::for_roots(&roots)
    };
    let result = scan(&roots, &context, std::time::SystemTime::now(), |_| {});
    let c = result.categories;
    assert_eq!((c.old_downloads.files, c.old_downloads.bytes), (1, 5_000));
    assert_eq!((c.stale.files, c.stale.bytes), (1, 150_000_000));
    assert_eq!(
        (c.cache.files, c.trash.files, c.mail_archives.files),
        (1, 1, 1)
    );
    assert_eq!(result.stale_files[0].path, home.join("video.mkv"));
}

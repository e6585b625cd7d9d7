//! The container image, built without a registry (`scripts/image`: the
//! Containerfile's runtime layout FROM scratch, with podman) from this
//! build's binary: its configuration (non-root, no HEALTHCHECK, the
//! binary as entrypoint), and its root filesystem alone running engram —
//! exported and entered with chroot as the image's user, so that nothing
//! of the host's is found: serve on a Unix socket under a read-only root,
//! and answer `engram health --live` / `--ready`. podman cannot run
//! containers on these machines (the sandbox refuses crun's setrlimit), so
//! chroot stands in for the runtime. Skipped, saying so, without podman or
//! root.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run(command: &mut Command) -> String {
    let out = command.output().expect("runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_image_holds_what_engram_needs_and_runs_as_non_root() {
    let root_user = run(Command::new("id").arg("-u")) == "0";
    let podman = Command::new("podman").arg("--version").output().is_ok();
    if !podman || !root_user {
        eprintln!("SKIPPED: needs podman and root (apt-get install podman)");
        return;
    }
    let tag = format!("localhost/engram-test:{}", std::process::id());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let size = run(Command::new("bash")
        .arg(repo.join("scripts/image"))
        .arg(env!("CARGO_BIN_EXE_engram"))
        .arg(&tag));
    assert!(size.contains("MB"), "{size}");

    let config = run(Command::new("podman").args([
        "image",
        "inspect",
        &tag,
        "--format",
        "{{.Config.User}}|{{json .Config.Entrypoint}}|{{.Config.Healthcheck}}",
    ]));
    let parts: Vec<&str> = config.split('|').collect();
    assert_eq!(parts[0], "65532:65532");
    assert_eq!(parts[1], r#"["/usr/local/bin/engram"]"#);
    assert!(
        parts[2].is_empty() || parts[2] == "<nil>",
        "no HEALTHCHECK: {config}"
    );

    // The image's root filesystem, alone.
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    let container = run(Command::new("podman").args(["create", &tag]));
    let tar = dir.path().join("rootfs.tar");
    run(Command::new("podman")
        .args(["export", "-o"])
        .arg(&tar)
        .arg(&container));
    run(Command::new("podman").args(["rm", &container]));
    run(Command::new("podman").args(["rmi", &tag]));
    run(Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&rootfs));
    assert!(!rootfs.join("bin/sh").exists(), "no shell");
    // The pod's volumes: the data directory and the socket's.
    for volume in ["var/lib/engram", "var/run/engram"] {
        std::fs::create_dir_all(rootfs.join(volume)).unwrap();
        run(Command::new("chown")
            .arg("65532:65532")
            .arg(rootfs.join(volume)));
    }
    // Read-only but for the volumes.
    run(Command::new("chmod")
        .args(["-R", "a-w"])
        .arg(rootfs.join("usr")));

    let chroot = |args: &[&str]| {
        let mut c = Command::new("/usr/sbin/chroot");
        c.arg("--userspec=65532:65532")
            .arg(&rootfs)
            .arg("/usr/local/bin/engram")
            .args(args)
            .env_clear()
            .env("ENGRAM_LISTEN", "unix:/var/run/engram/engram.sock");
        c
    };
    let mut server = chroot(&["serve", "--data-dir", "/var/lib/engram"])
        .stdout(Stdio::null())
        .spawn()
        .expect("engram starts in the image's root");
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let ok = chroot(&["health", "--ready"])
            .output()
            .unwrap()
            .status
            .success();
        if ok || Instant::now() > deadline {
            break ok;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let live = chroot(&["health", "--live"])
        .output()
        .unwrap()
        .status
        .success();
    let _ = server.kill();
    let _ = server.wait();
    assert!(ready && live, "ready {ready}, live {live}");
}

//! What the examples' real-client tests share (`cni_bridge`'s
//! `libcni_client.rs`, `cni_bandwidth`'s `libcni.rs`): the Go runtime on
//! libcni (`examples/cni_bridge/cnirun/main.go`) and the examples installed
//! under the names of the reference plugins they stand in for.
//!
//! A binary named in an environment variable is taken as it is: the Linux
//! 6.1 guest of CI (`.ci/kernel-6.1.sh`) cannot run cargo (its cargo home is
//! read-only) and should not compile under software emulation, so the host
//! builds them with the same commands as below and names them in
//! `NETPLUMB_LIBCNI_CLIENT`, `NETPLUMB_CNI_BRIDGE_BIN` and
//! `NETPLUMB_CNI_BANDWIDTH_BIN`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The directory the example's test binary was built in (`target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().and_then(Path::parent).expect("target/<profile>/examples/<exe>").to_path_buf()
}

/// A prebuilt binary named by `var`, which must exist when set.
fn prebuilt(var: &str) -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os(var)?);
    assert!(p.is_file(), "{var}={} is not a file", p.display());
    Some(p)
}

/// The Go client, built once per test binary under `profile_dir()/subdir`
/// (or `NETPLUMB_LIBCNI_CLIENT`); panics with what to install when it
/// cannot be built.
pub fn client(subdir: &str) -> &'static Path {
    static CLIENT: OnceLock<PathBuf> = OnceLock::new();
    CLIENT.get_or_init(|| {
        if let Some(p) = prebuilt("NETPLUMB_LIBCNI_CLIENT") {
            return p;
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cni_bridge/cnirun/main.go");
        let gopath = "/usr/share/gocode";
        assert!(
            Path::new(gopath).join("src/github.com/containernetworking/cni/libcni").is_dir(),
            "libcni sources missing: apt-get install golang-github-appc-cni-dev"
        );
        let out_dir = profile_dir().join(subdir);
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = out_dir.join("cnirun");
        let st = Command::new("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg(&src)
            .env("GO111MODULE", "off")
            .env("GOPATH", gopath)
            .env("GOCACHE", out_dir.join("gocache"))
            .env("CGO_ENABLED", "0")
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .status()
            .expect("run `go` (apt-get install golang-go golang-github-appc-cni-dev)");
        assert!(st.success(), "go build of {} failed", src.display());
        out
    })
}

/// A plugin directory searched before /usr/lib/cni, as a runtime installs
/// plugins: each `(name, example, var)` is the example's binary (the one
/// named by `var`, or built here with cargo as a user would) linked as
/// `name` in `profile_dir()/subdir/bin`. Returns the client's plugin path.
pub fn plugin_dirs(subdir: &str, plugins: &[(&str, &str, &str)]) -> String {
    let profile = profile_dir();
    let bins: Vec<(&str, &str, Option<PathBuf>)> =
        plugins.iter().map(|&(name, example, var)| (name, example, prebuilt(var))).collect();
    let missing: Vec<&str> = bins.iter().filter(|b| b.2.is_none()).map(|b| b.1).collect();
    if !missing.is_empty() {
        let target = profile.parent().expect("target dir");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--all-features"]);
        for example in &missing {
            cmd.args(["--example", example]);
        }
        cmd.arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target);
        if profile.file_name().and_then(|n| n.to_str()) == Some("release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo");
        assert!(st.success(), "cargo build of the examples {missing:?} failed");
    }
    let dir = profile.join(subdir).join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, example, bin) in bins {
        let bin = bin.unwrap_or_else(|| profile.join("examples").join(example));
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(bin, &link).unwrap();
    }
    format!("{}:/usr/lib/cni", dir.display())
}

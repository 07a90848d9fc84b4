//! What the reference plugins' `skel` library does before and after a
//! plugin's own code, shared by `cni_bridge` and `cni_bandwidth`: the
//! `CNI_*` environment ([`Call`]) checked with the reference's codes and
//! messages, and [`main`]: `--help`, stdin, the result or error JSON and
//! the exit code.
//!
//! The reference `bridge` and `bandwidth` binaries (containernetworking
//! plugins 1.1.1), run with bad input, answer with these codes: a missing
//! variable `4` ("required env variables [CNI_NETNS] missing"), a bad
//! container ID `4` ("invalid characters in containerID"), an unknown
//! command `4` ("unknown CNI_COMMAND: X"), an unsupported `cniVersion` `1`,
//! a configuration that is not JSON `6`; and without `CNI_COMMAND` they
//! print what they are on stderr and exit 0.

use std::future::Future;
use std::io::Read;

use netplumb::netns::Netns;
use serde_json::Value;

use super::config::{valid_name, CniError, ERR_INTERNAL, ERR_INVALID_ENV, SUPPORTED_VERSIONS};

/// One invocation: the `CNI_*` environment, read once.
#[derive(Clone, Debug, Default)]
pub struct Call {
    /// `CNI_COMMAND`.
    pub command: String,
    /// `CNI_CONTAINERID`.
    pub container_id: Option<String>,
    /// `CNI_NETNS`.
    pub netns: Option<String>,
    /// `CNI_IFNAME`.
    pub ifname: Option<String>,
    /// `CNI_ARGS`.
    pub args: Option<String>,
    /// `CNI_PATH`.
    pub path: Option<String>,
}

impl Call {
    /// The process's `CNI_*` variables.
    pub fn from_env() -> Call {
        Call {
            command: std::env::var("CNI_COMMAND").unwrap_or_default(),
            container_id: std::env::var("CNI_CONTAINERID").ok(),
            netns: std::env::var("CNI_NETNS").ok(),
            ifname: std::env::var("CNI_IFNAME").ok(),
            args: std::env::var("CNI_ARGS").ok(),
            path: std::env::var("CNI_PATH").ok(),
        }
    }

    /// The variables the command needs, checked as the reference's `skel`
    /// checks them (one error listing every missing one, code 4).
    pub fn require(&self) -> Result<(), CniError> {
        let cmd = self.command.as_str();
        let needed = matches!(cmd, "ADD" | "CHECK" | "DEL");
        let mut missing = Vec::new();
        let vars = [
            ("CNI_COMMAND", &Some(self.command.clone()), true),
            ("CNI_CONTAINERID", &self.container_id, needed),
            ("CNI_NETNS", &self.netns, needed && cmd != "DEL"),
            ("CNI_IFNAME", &self.ifname, needed),
            ("CNI_PATH", &self.path, needed),
        ];
        for (name, v, req) in vars {
            if req && v.as_deref().unwrap_or("").is_empty() {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(CniError::new(
                ERR_INVALID_ENV,
                format!("required env variables [{}] missing", missing.join(",")),
            ));
        }
        Ok(())
    }

    /// `CNI_CONTAINERID` and `CNI_IFNAME` checked as the reference checks
    /// them (code 4), for the commands that get past [`Call::require`].
    pub fn validate(&self) -> Result<(), CniError> {
        let id = self.container_id.clone().unwrap_or_default();
        if !id.is_empty() && !valid_name(&id) {
            return Err(CniError::new(ERR_INVALID_ENV, "invalid characters in containerID").details(id));
        }
        let ifname = self.ifname.clone().unwrap_or_default();
        if !ifname.is_empty() {
            netplumb::rtnl::validate_ifname("CNI_IFNAME", &ifname)
                .map_err(|e| CniError::new(ERR_INVALID_ENV, e.to_string()))?;
        }
        Ok(())
    }
}

/// A plugin's `main`: `--help` prints `usage` on stdout, any other argument
/// is refused (usage on stderr, exit 2) before the environment or stdin is
/// read; without `CNI_COMMAND` the usage and the supported versions go to
/// stderr and the exit code is 0, as the reference plugins do; otherwise
/// `run` gets the node's namespace (the current one), the call and stdin,
/// and its result is printed as JSON, or its error as the spec's error JSON
/// (in the configuration's `cniVersion`) with exit code 1.
pub async fn main<F, Fut>(name: &str, usage: &str, run: F)
where
    F: FnOnce(Netns, Call, Vec<u8>) -> Fut,
    Fut: Future<Output = Result<Option<Value>, CniError>>,
{
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            println!("{usage}");
            return;
        }
        Some(other) => {
            eprintln!("{name}: unknown option {other:?}\n{usage}");
            std::process::exit(2);
        }
    }
    let call = Call::from_env();
    if call.command.is_empty() {
        eprintln!("{usage}\nCNI protocol versions supported: {}", SUPPORTED_VERSIONS.join(", "));
        return;
    }
    let mut stdin = Vec::new();
    if call.command != "VERSION" {
        let _ = std::io::stdin().read_to_end(&mut stdin);
    }
    let version = serde_json::from_slice::<Value>(&stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().map(str::to_string))
        .unwrap_or_else(|| "1.1.0".to_string());
    let result = match Netns::current() {
        Ok(host) => run(host, call, stdin).await,
        Err(e) => Err(CniError::new(ERR_INTERNAL, e.to_string())),
    };
    match result {
        Ok(Some(v)) => println!("{}", serde_json::to_string_pretty(&v).expect("json")),
        Ok(None) => {}
        Err(e) => {
            println!("{}", serde_json::to_string_pretty(&e.to_json(&version)).expect("json"));
            std::process::exit(1);
        }
    }
}

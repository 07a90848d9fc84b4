//! The bridge CNI plugin's parts that more than one example uses, as a
//! module made to be shared: `examples/cni_bridge` (the plugin a runtime
//! calls) and `examples/pod_network` / `examples/service_vip` (which attach
//! their pods with the same ADD code) each include it as `pub mod cni`, so
//! its public API is exported from every example and nothing in it needs
//! a dead-code allowance.
//!
//! - [`config`]: the network configuration (every key of the reference
//!   `bridge` and `host-local` plugins, understood or refused by name) and
//!   CNI errors with the reference's codes.
//! - [`ipam`]: a `host-local` compatible address allocator.
//! - [`attach`]: ADD and DEL against the kernel.
//! - [`spoofcheck`]: `macspoofchk` in nftables.
//! - [`skel`]: the `CNI_*` environment and a plugin's `main`, as the
//!   reference plugins' `skel` library (also used by `cni_bandwidth`).

pub mod attach;
pub mod config;
pub mod ipam;
pub mod skel;
pub mod spoofcheck;
